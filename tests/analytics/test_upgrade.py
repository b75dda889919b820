"""Migration 14 (and those after it) on a database from before it: the readership tables
(and migration 16's click tables) appear, empty, and everything else is kept."""

from __future__ import annotations

from datetime import UTC, date, datetime

import sqlalchemy as sa

from publisher.analytics import counters, figures
from publisher.analytics.tally import Batch
from publisher.db import (
    ANALYTICS_TABLES,
    CLICK_TABLES,
    MIGRATIONS,
    make_engine,
    sends,
    upgrade,
)


def test_a_database_from_before_migration_14_gets_the_readership_tables(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    with engine.begin() as conn:
        for table in (*ANALYTICS_TABLES, *CLICK_TABLES):  # 14, 16
            conn.execute(sa.text(f"DROP TABLE {table.name}"))
        conn.execute(sa.text("ALTER TABLE deliveries DROP COLUMN strings_language"))  # 15
        conn.execute(sa.text("DELETE FROM schema_version WHERE version >= 14"))
        conn.execute(sends.insert().values(
            issue_slug="first", entry_id="tag:x,2026:first", subject="First", status="done",
            audience_count=0, created_at=datetime(2026, 1, 1, tzinfo=UTC)))
    assert upgrade(engine) == [version for version, _, _ in MIGRATIONS if version >= 14]
    tables = set(sa.inspect(engine).get_table_names())
    assert {t.name for t in (*ANALYTICS_TABLES, *CLICK_TABLES)} <= tables
    batch = Batch()
    batch.fetches[(date(2026, 1, 2), "/feed.atom")] = 1
    counters.add(engine, batch)
    assert [f.feed for f in figures.feed_readership(engine)] == ["/feed.atom"]
    with engine.connect() as conn:
        assert conn.execute(sa.select(sends.c.issue_slug)).scalars().all() == ["first"]
    assert upgrade(engine) == []
    engine.dispose()
