"""Retention (`publisher db prune`): a finished send keeps its summary and failed rows;
its sent and cancelled rows and its frozen email go, in short transactions, so years of
weekly sends do not grow the database without bound. Webhook deliveries settled (delivered
or failed) before `database.webhook_retention_days` go too, then the events no delivery
names any more; a pending delivery, and so its event, is never pruned. The rows are deleted
by their owners (publisher.sending.webhooks, publisher.events), a chunk per transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from publisher import events
from publisher.db import deliveries, sends, webhook_deliveries, webhook_events
from publisher.sending import webhooks
from publisher.sending.outbox import CANCELLED, SEND_CANCELLED, SEND_DONE, SENT

PRUNE_CHUNK = 10_000  # rows per delete: each transaction holds SQLite's write lock briefly
PRUNED_STATES = (SENT, CANCELLED)  # failed rows stay: the console lists them


@dataclass(frozen=True)
class Prunable:
    """A finished send that `publisher db prune` would prune, and what it would free."""

    send_id: int
    slug: str
    finished_at: datetime
    rows: int  # sent and cancelled delivery rows
    content_bytes: int  # the frozen email, as stored


def prunable_sends(engine: Engine, finished_before: datetime) -> list[Prunable]:
    """Sends done or cancelled before `finished_before` and not pruned yet, oldest first."""
    c = deliveries.c
    rows_of = (sa.select(sa.func.count()).where(c.send_id == sends.c.id,
                                                c.status.in_(PRUNED_STATES))
               .scalar_subquery())
    stored = (sa.func.length(sa.cast(sends.c.content, sa.LargeBinary))
              if engine.dialect.name == "sqlite"
              else sa.func.octet_length(sa.cast(sends.c.content, sa.Text)))
    query = (sa.select(sends.c.id, sends.c.issue_slug, sends.c.finished_at, rows_of,
                       sa.func.coalesce(stored, 0))
             .where(sends.c.status.in_([SEND_DONE, SEND_CANCELLED]),
                    sends.c.finished_at < finished_before, sends.c.pruned_at.is_(None))
             .order_by(sends.c.finished_at, sends.c.id))
    with engine.connect() as conn:
        found = conn.execute(query).all()
    return [Prunable(int(i), str(slug), finished, int(n), int(size))
            for i, slug, finished, n, size in found]


def prune_send(engine: Engine, send_id: int, summarise: Callable[[], dict[str, Any]],
               now: datetime, chunk: int = PRUNE_CHUNK) -> int:
    """Store the send's summary (once: a prune that stopped half-way keeps the summary it
    made before its first delete), delete its sent and cancelled rows `chunk` at a time,
    then drop its frozen email and stamp `pruned_at`. Only a finished send is touched;
    running it again is harmless. Returns the rows deleted."""
    finished = sa.and_(sends.c.id == send_id,
                       sends.c.status.in_([SEND_DONE, SEND_CANCELLED]))
    with engine.connect() as conn:
        stored = conn.execute(sa.select(sends.c.summary).where(finished)).first()
    if stored is None:
        return 0
    if stored.summary is None:
        with engine.begin() as conn:
            conn.execute(sends.update().where(finished, sends.c.summary.is_(None))
                         .values(summary=summarise()))
    deleted = 0
    while batch := _delete_chunk(engine, send_id, chunk):
        deleted += batch
    with engine.begin() as conn:
        conn.execute(sends.update().where(finished).values(content=None, pruned_at=now))
    return deleted


def _delete_chunk(engine: Engine, send_id: int, chunk: int) -> int:
    c = deliveries.c
    still_finished = sa.exists().where(sends.c.id == send_id,
                                       sends.c.status.in_([SEND_DONE, SEND_CANCELLED]))
    ids = (sa.select(c.id).where(c.send_id == send_id, c.status.in_(PRUNED_STATES))
           .order_by(c.id).limit(chunk))
    with engine.begin() as conn:
        return int(conn.execute(sa.delete(deliveries).where(
            c.id.in_(ids.scalar_subquery()), still_finished)).rowcount)


@dataclass(frozen=True)
class WebhookRows:
    """Webhook rows that retention deletes (or would): settled deliveries, unneeded events."""

    deliveries: int
    events: int


def prunable_webhooks(engine: Engine, before: datetime) -> WebhookRows:
    """What `prune_webhooks(engine, before)` would delete: the deliveries settled before
    `before`, and the events before it that no other delivery row would still name."""
    d, e = webhook_deliveries.c, webhook_events.c
    kept = sa.exists().where(d.event_id == e.id, ~webhooks.settled_before(before))
    with engine.connect() as conn:
        rows = conn.execute(sa.select(sa.func.count()).select_from(webhook_deliveries)
                            .where(webhooks.settled_before(before))).scalar_one()
        unneeded = conn.execute(sa.select(sa.func.count()).select_from(webhook_events)
                                .where(e.at < before, ~kept)).scalar_one()
    return WebhookRows(int(rows), int(unneeded))


def prune_webhooks(engine: Engine, before: datetime, chunk: int = PRUNE_CHUNK) -> WebhookRows:
    """Delete the deliveries settled before `before`, then the events before it that no
    delivery names, `chunk` rows per transaction; running it again is harmless."""
    rows = unneeded = 0
    while batch := webhooks.delete_settled(engine, before, chunk):
        rows += batch
    while True:
        with engine.begin() as conn:
            batch = events.delete_unneeded(conn, before, chunk)
        if not batch:
            return WebhookRows(rows, unneeded)
        unneeded += batch


def reclaim_space(engine: Engine) -> None:
    """Give pruned space back: SQLite `VACUUM` (rewrites the file; other writers wait),
    PostgreSQL `VACUUM ANALYZE` of the outbox and webhook tables (space reusable, file
    kept)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(sa.text("VACUUM"))
            conn.execute(sa.text("PRAGMA wal_checkpoint(TRUNCATE)"))
        else:
            conn.execute(sa.text("VACUUM ANALYZE deliveries, sends, webhook_deliveries, "
                                 "webhook_events"))
