"""Migration 9 on a database from before it: readers already confirmed stay in the
automations from their confirmation, and each step keeps the window its send began."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from publisher.db import (
    ANALYTICS_TABLES,
    CLICK_TABLES,
    automation_steps,
    make_engine,
    sends,
    subscriber_table,
    upgrade,
)
from publisher.sending import outbox
from tests.automations.helpers import BASE, confirm_at


def test_an_upgraded_database_keeps_who_is_enrolled_and_each_steps_window(
    database_url: str
) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    with engine.begin() as conn:  # back to the schema before migration 9 (and 10, 11, 14, 16)
        for table in ("api_tokens", "webhook_deliveries", "webhook_events", "webhook_endpoints",
                      "automation_steps", *(t.name for t in (*ANALYTICS_TABLES, *CLICK_TABLES))):
            conn.execute(sa.text(f"DROP TABLE {table}"))
        conn.execute(sa.text("ALTER TABLE subscribers DROP COLUMN automations_at"))
        conn.execute(sa.text("DELETE FROM schema_version WHERE version >= 9"))
    confirmed = BASE - timedelta(days=2)
    with engine.begin() as conn:
        conn.execute(sa.text(
            "INSERT INTO subscribers (email, email_key, name, status, tags, created_at, "
            "updated_at, confirmed_at, bounce_count) VALUES ('old@example.net', "
            "'old@example.net', '', 'confirmed', '[]', :at, :at, :at, 0)"),
            {"at": confirmed.replace(tzinfo=None)})
        conn.execute(sends.insert().values(
            issue_slug="automation:welcome", entry_id="tag:x,2025:w", subject="Welcome",
            status=outbox.SEND_DONE, audience_count=0, created_at=BASE - timedelta(days=1),
            kind="automation"))
    assert upgrade(engine) == [9, 10, 11, 12, 13, 14, 15, 16]
    confirm_at(engine, 1, BASE)  # and the store writes the new column
    with engine.connect() as conn:
        entered = dict(conn.execute(sa.select(subscriber_table.c.email,
                                              subscriber_table.c.automations_at)).all())
        steps = conn.execute(sa.select(automation_steps.c.slug,
                                       automation_steps.c.live_since)).all()
    assert entered == {"old@example.net": confirmed, "r0@example.net": BASE}
    assert steps == [("automation:welcome", BASE - timedelta(days=1))]
