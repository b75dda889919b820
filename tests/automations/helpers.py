"""Helpers for automation tests: a site with a step folder, subscribers confirmed at a time,
and who received which step."""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from click.testing import Result
from sqlalchemy.engine import Engine

from publisher.config import Config, load_config
from publisher.db import deliveries, sends
from publisher.subscribers import store
from publisher.subscribers.store import Consent
from tests.cli import CLI_ENV, invoke_publisher
from tests.conftest import DATA, SITE
from tests.sending.helpers import write_config_file

BASE = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)  # long after the seed issue: it is never due
LATEST = DATA / "steps_site" / "issues" / "2025-02-latest.md"  # an issue, never due itself


def step_text(title: str, after: str, body: str = "Hello from a step.", extra: str = "") -> str:
    return f'---\ntitle: "{title}"\nafter: {after}\nlanguage: en\n{extra}---\n\n{body}\n'


def with_steps(config: Config, folder: Path, catch_up_hours: float | None = None,
               issues: Path | None = None) -> Config:
    """The config with its automations in `folder` (a copy of the repo's example when it
    does not exist yet), and its issues in `issues` if given."""
    if not folder.exists():
        shutil.copytree(SITE / "automations", folder)
    settings = config.settings
    paths = {"automations": str(folder), **({"issues": str(issues)} if issues else {})}
    updates: dict[str, object] = {"paths": settings.paths.model_copy(update=paths)}
    if catch_up_hours is not None:
        updates["sending"] = settings.sending.model_copy(
            update={"catch_up_hours": catch_up_hours})
    return replace(config, settings=settings.model_copy(update=updates))


def confirm_at(engine: Engine, count: int, at: datetime, start: int = 0) -> list[str]:
    """Confirmed subscribers r<n>@example.net, confirmed at `at` (and so in the automations)."""
    addresses = [f"r{n}@example.net" for n in range(start, start + count)]
    with engine.begin() as conn:
        for address in addresses:
            store.add(conn, address, "", store.CONFIRMED, Consent("import", at), at,
                      welcome=True)
    return addresses


def received(engine: Engine) -> Counter[tuple[str, str]]:
    """(send slug, address) -> delivery rows that were sent."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(sends.c.issue_slug, deliveries.c.email)
                            .join(sends, sends.c.id == deliveries.c.send_id)
                            .where(deliveries.c.status == "sent")).all()
    return Counter((str(slug), str(email)) for slug, email in rows)


def steps_folder(folder: Path, *steps: tuple[str, str, str]) -> Path:
    """A step folder with (file name, title, after) steps."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, title, after in steps:
        (folder / f"{name}.md").write_text(step_text(title, after), encoding="utf-8")
    return folder


def site_file(tmp_path: Path, smtp_port: int, database_url: str, steps: Path,
              catch_up_hours: float = 48, extra: str = "") -> tuple[Path, Config]:
    """A publisher.toml for the real CLI (SMTP on loopback, these steps, `extra` TOML) and
    its Config, which the daemon under test reads too."""
    path = write_config_file(tmp_path / "site", smtp_port, database_url,
                             extra=f"[sending]\ncatch_up_hours = {catch_up_hours}\n{extra}")
    text = path.read_text(encoding="utf-8").replace(f'issues = "{SITE / "issues"}"',
                                                    f'issues = "{LATEST.parent}"')
    text = text.replace("[paths]\n", f'[paths]\nautomations = "{steps}"\n', 1)
    path.write_text(text, encoding="utf-8")
    return path, load_config(config_file=path)


def cli(config_file: Path, *args: str) -> Result:
    """The real `publisher --config FILE ARGS…`, in this process."""
    return invoke_publisher(*args, config=config_file, env=CLI_ENV)


def welcome_and_day_3(folder: Path) -> Path:
    """A step folder: a welcome that brings the latest mailed issue, and a day-3 step."""
    steps_folder(folder, ("day-3", "Day three", "3d"))
    (folder / "welcome.md").write_text(
        step_text("Welcome", "0", extra="send_latest_issue: true\n"), encoding="utf-8")
    return folder
