"""Helpers for subscriber tests that run the real CLI (in this process) and web flows."""

from __future__ import annotations

import subprocess
from dataclasses import replace
from pathlib import Path

from sqlalchemy.engine import Engine

from publisher.config import Config
from publisher.sending import oneoff, outbox
from tests.cli import CLI_ENV, run_publisher_here
from tests.sending.helpers import write_config_file
from tests.servers import free_port

ENV = {**CLI_ENV, "PYTHONIOENCODING": "utf-8"}


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real `publisher subscribers …`, run in this process."""
    return run_publisher_here(config, "subscribers", *args, env=ENV)


def site_config(folder: Path) -> Path:
    """publisher.toml in `folder`, with its own SQLite database there."""
    return write_config_file(folder, free_port(), url_of(folder / "publisher.toml"))


def url_of(config: Path) -> str:
    """The database URL of a config written by `site_config`."""
    return f"sqlite:///{config.parent / 'publisher.db'}"


def web_config(seed: Config, base_url: str, smtp_port: int,
               database_url: str | None = None) -> Config:
    """The seed site served at base_url, mailing through a catcher on smtp_port."""
    settings = seed.settings
    updates: dict[str, object] = {
        "site": settings.site.model_copy(update={"base_url": base_url}),
        "smtp": settings.smtp.model_copy(update={"port": smtp_port, "tls": "none"})}
    if database_url is not None:
        updates["database"] = settings.database.model_copy(update={"url": database_url})
    return replace(seed, settings=settings.model_copy(update=updates))


def one_offs_settled(engine: Engine) -> bool:
    """No confirmation mail is queued or on its way: the web answers first, then the
    server's courier sends it (a deferred one waits for its retry)."""
    send_id = outbox.find_send(engine, oneoff.CONFIRM)
    if send_id is None:
        return True
    counts = outbox.counts(engine, send_id)
    return counts[outbox.QUEUED] == counts[outbox.SENDING] == 0
