"""Helpers for audience tests: a site that declares tags, and subscribers with random tags."""

from __future__ import annotations

import random
from dataclasses import replace

from sqlalchemy.engine import Engine

from publisher.config import AudienceConfig, Config
from publisher.db import subscriber_table
from tests.sending.helpers import T0

# Hyphens, Chinese and a quote: tags reach SQL as bound parameters, whatever they hold.
TAGS = ("llm", "agents", "weekly-off", "中文", "vision", "o'reilly")
STATUSES = ("confirmed",) * 8 + ("pending", "unsubscribed")


def with_tags(config: Config, database_url: str, tags: tuple[str, ...] = TAGS) -> Config:
    """`config` with [audience] tags declared and its database at database_url."""
    settings = config.settings
    database = settings.database.model_copy(update={"url": database_url})
    return replace(config, settings=settings.model_copy(
        update={"audience": AudienceConfig(tags=list(tags)), "database": database}))


def random_subscribers(engine: Engine, count: int, seed: int = 16) -> dict[int, set[str]]:
    """Insert `count` subscribers, a fifth of them not confirmed, each with 0-4 random tags
    (fixed seed); returns each confirmed subscriber's id and tags."""
    chooser = random.Random(seed)
    rows = [{"email": f"r{n}@example.net", "email_key": f"r{n}@example.net", "name": "",
             "status": chooser.choice(STATUSES),
             "tags": chooser.sample(TAGS, chooser.randint(0, 4)),
             "created_at": T0, "updated_at": T0, "confirmed_at": T0, "consent_at": T0,
             "consent_source": "import", "bounce_count": 0} for n in range(count)]
    with engine.begin() as conn:
        conn.execute(subscriber_table.insert(), rows)
        found = conn.execute(subscriber_table.select()
                             .where(subscriber_table.c.status == "confirmed")).all()
    return {int(row.id): set(row.tags) for row in found}
