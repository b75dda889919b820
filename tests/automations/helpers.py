"""Helpers for automation tests: a site with a step folder, subscribers confirmed at a time,
and who received which step."""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from publisher.config import Config
from publisher.db import deliveries, sends
from publisher.subscribers import store
from publisher.subscribers.store import Consent
from tests.conftest import SITE

BASE = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)  # long after the seed issue: it is never due


def step_text(title: str, after: str, body: str = "Hello from a step.", extra: str = "") -> str:
    return f'---\ntitle: "{title}"\nafter: {after}\nlanguage: en\n{extra}---\n\n{body}\n'


def with_steps(config: Config, folder: Path, catch_up_hours: float | None = None) -> Config:
    """The config with its automations in `folder` (a copy of the repo's example when it
    does not exist yet)."""
    if not folder.exists():
        shutil.copytree(SITE / "automations", folder)
    settings = config.settings
    updates: dict[str, object] = {
        "paths": settings.paths.model_copy(update={"automations": str(folder)})}
    if catch_up_hours is not None:
        updates["sending"] = settings.sending.model_copy(
            update={"catch_up_hours": catch_up_hours})
    return replace(config, settings=settings.model_copy(update=updates))


def confirm_at(engine: Engine, count: int, at: datetime, start: int = 0) -> list[str]:
    """Confirmed subscribers r<n>@example.net, confirmed at `at`."""
    addresses = [f"r{n}@example.net" for n in range(start, start + count)]
    with engine.begin() as conn:
        for address in addresses:
            store.add(conn, address, "", store.CONFIRMED, Consent("import", at), at)
    return addresses


def received(engine: Engine) -> Counter[tuple[str, str]]:
    """(send slug, address) -> delivery rows that were sent."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(sends.c.issue_slug, deliveries.c.email)
                            .join(sends, sends.c.id == deliveries.c.send_id)
                            .where(deliveries.c.status == "sent")).all()
    return Counter((str(slug), str(email)) for slug, email in rows)
