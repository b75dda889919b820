"""Helpers for sending tests: a site whose SMTP points at a loopback port, and subscribers."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from publisher.config import Config, Secrets
from publisher.db import open_database, subscriber_table
from publisher.subscribers import store
from publisher.subscribers.store import Consent

SECRETS = Secrets(secret_keys=("test-secret-key-0123456789",))
T0 = datetime(2024, 6, 16, 1, 0, tzinfo=UTC)


def smtp_site(config: Config, port: int, database_url: str | None = None,
              **smtp: Any) -> Config:
    """The seed site sending to 127.0.0.1:port with the given SMTP settings."""
    settings = config.settings
    smtp_config = settings.smtp.model_copy(update={"host": "127.0.0.1", "port": port,
                                                   "tls": "none", **smtp})
    updates: dict[str, Any] = {"smtp": smtp_config}
    if database_url:
        updates["database"] = settings.database.model_copy(update={"url": database_url})
    return replace(config, settings=settings.model_copy(update=updates))


def add_confirmed(engine: Engine, count: int, start: int = 0,
                  domain: str = "example.net") -> list[str]:
    """Insert confirmed subscribers u<n>@domain in one transaction; returns the addresses."""
    addresses = [f"u{n}@{domain}" for n in range(start, start + count)]
    consent = Consent("import", T0)
    with engine.begin() as conn:
        for n, address in enumerate(addresses, start=start):
            store.add(conn, address, f"User {n}", store.CONFIRMED, consent, T0)
    return addresses


def insert_confirmed(engine: Engine, count: int, domain: str = "example.net",
                     name: str = "User {n}") -> None:
    """Fast path for large audiences: confirmed u<n>@domain in 20,000-row executemany
    inserts, so memory stays flat at a million."""
    for first in range(0, count, 20_000):
        rows = [{"email": f"u{n}@{domain}", "email_key": f"u{n}@{domain}",
                 "name": name.format(n=n), "status": "confirmed", "tags": [],
                 "created_at": T0, "updated_at": T0, "confirmed_at": T0, "consent_at": T0,
                 "consent_source": "import", "bounce_count": 0}
                for n in range(first, min(count, first + 20_000))]
        with engine.begin() as conn:
            conn.execute(subscriber_table.insert(), rows)


def bulk_confirmed(engine: Engine, count: int, domain: str = "example.net") -> list[str]:
    """insert_confirmed, returning the addresses."""
    insert_confirmed(engine, count, domain)
    return [f"u{n}@{domain}" for n in range(count)]


def database(config: Config) -> Engine:
    return open_database(config.database_url)


def write_config_file(folder: Path, smtp_port: int, database_url: str, extra: str = "",
                      outage_seconds: float | None = None, **smtp: object) -> Path:
    """The seed site's publisher.toml for a subprocess: SMTP on 127.0.0.1:smtp_port, the
    given database, the seed site's issues and the repo's templates, output under folder;
    `extra` TOML appended; one sender process unless `extra` says how many."""
    repo = Path(__file__).resolve().parents[2]
    site = repo / "tests" / "data" / "site"
    text = (site / "publisher.toml").read_text(encoding="utf-8")
    settings = "".join(f"\n{key} = {value}" for key, value in smtp.items())
    text = text.replace("port = 8025", f"port = {smtp_port}{settings}")
    database = f'url = "{database_url}"'
    if outage_seconds is not None:
        database += f"\noutage_seconds = {outage_seconds}"
    text = text.replace('url = "sqlite:///var/publisher.db"', database)
    text = text.replace('issues = "issues"', f'issues = "{site / "issues"}"')
    text = text.replace('templates = "templates"', f'templates = "{repo / "templates"}"')
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "publisher.toml"
    path.write_text(text + "\n" + one_sender_process_unless_set(extra), encoding="utf-8")
    return path


def one_sender_process_unless_set(extra: str) -> str:
    """`extra` with `sender_processes = 1` in its [sending] table unless it names a number:
    the sender-process path as deployed, one interpreter start per drain instead of one per
    core (the tests about several sender processes ask for them)."""
    if "sender_processes" in extra:
        return extra
    if "[sending]\n" in extra:
        return extra.replace("[sending]\n", "[sending]\nsender_processes = 1\n", 1)
    return f"[sending]\nsender_processes = 1\n\n{extra}"


def wait_until(condition: Callable[[], bool], seconds: float = 60) -> None:
    """Poll `condition` every 20 ms; fail the test after `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)
