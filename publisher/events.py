"""Webhook events: the one writer of event rows and of the delivery rows they fan out to.

The rule it keeps: an event is written in the same transaction as the change it reports
(the subscriber store and the outbox call `record` with their own connection), so a change
that rolls back leaves no event, and a committed change always has one. An event is
written only when some configured endpoint wants its type (`webhook_endpoints`, which
`sync_endpoints` fills from publisher.toml): without webhooks an event costs one indexed
SELECT and writes nothing, and a bulk import checks once per batch, not once per row.
Every process that opens the database with a config (the CLI's context, the web state, the
daemon at each tick) brings `webhook_endpoints` in line with it (`sync_configured`), so a
change made before the daemon ever ran is recorded too.
Each event becomes one delivery row per endpoint that wants it, which publisher.sending.webhooks
delivers and settles.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from publisher.config import WEBHOOK_EVENTS
from publisher.db import (
    deliveries,
    sends,
    webhook_deliveries,
    webhook_endpoints,
    webhook_events,
)

EVENT_TYPES = WEBHOOK_EVENTS
(SUBSCRIBED, CONFIRMED, UNSUBSCRIBED, BOUNCED, COMPLAINED, ERASED,
 SEND_STARTED, SEND_FINISHED, SEND_PAUSED, SEND_CANCELLED) = EVENT_TYPES
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"  # a delivery row's states
REMOVED_REPLY = "not delivered: the endpoint is no longer in publisher.toml"

Data = dict[str, Any]


@dataclass(frozen=True)
class Event:
    """One change to report: its type, the key its order is kept by, and its body's data
    (built only when an endpoint wants the type)."""

    type: str
    order_key: str
    data: Callable[[], Data]


def subscriber_key(subscriber_id: int) -> str:
    return f"subscriber:{subscriber_id}"


def send_key(send_id: int) -> str:
    return f"send:{send_id}"


def wanted(conn: Connection, types: Iterable[str]) -> dict[str, list[str]]:
    """The endpoints (urls) that want each of `types`; types nobody wants are absent."""
    rows = conn.execute(sa.select(webhook_endpoints.c.type, webhook_endpoints.c.url)
                        .where(webhook_endpoints.c.type.in_(sorted(set(types))))).all()
    urls: dict[str, list[str]] = {}
    for event_type, url in rows:
        urls.setdefault(str(event_type), []).append(str(url))
    return urls


def record(conn: Connection, event: Event, now: datetime) -> int | None:
    """Write `event` and its delivery rows in the caller's transaction; None: unwanted."""
    return record_many(conn, [event], now)[0]


def record_many(conn: Connection, events: Sequence[Event], now: datetime) -> list[int | None]:
    """`record` for a batch, with one lookup of who wants what; ids in order (None: unwanted)."""
    if not events:
        return []
    urls = wanted(conn, (event.type for event in events))
    chosen = [event for event in events if event.type in urls]
    if not chosen:
        return [None] * len(events)
    ids = [int(i) for i in conn.execute(
        webhook_events.insert().returning(webhook_events.c.id, sort_by_parameter_order=True),
        [dict(type=e.type, order_key=e.order_key, at=now, data=e.data()) for e in chosen]
    ).scalars().all()]
    conn.execute(webhook_deliveries.insert(), [
        dict(event_id=event_id, url=url, order_key=event.order_key, status=PENDING,
             attempts=0, created_at=now, updated_at=now)
        for event_id, event in zip(ids, chosen, strict=True) for url in urls[event.type]])
    by_event = iter(ids)
    return [next(by_event) if event.type in urls else None for event in events]


def sync_endpoints(conn: Connection, endpoints: Iterable[tuple[str, Iterable[str]]]) -> bool:
    """Make `webhook_endpoints` say what the config says (url -> event types); True when it
    changed. Events are recorded for an endpoint from then on."""
    wanted_pairs = {(url, event_type) for url, types in endpoints for event_type in types}
    stored = {(str(u), str(t)) for u, t in conn.execute(
        sa.select(webhook_endpoints.c.url, webhook_endpoints.c.type)).all()}
    if stored == wanted_pairs:
        return False
    for url, event_type in stored - wanted_pairs:
        conn.execute(sa.delete(webhook_endpoints).where(webhook_endpoints.c.url == url,
                                                        webhook_endpoints.c.type == event_type))
    if wanted_pairs - stored:
        conn.execute(webhook_endpoints.insert(), [dict(url=url, type=event_type)
                                                  for url, event_type in wanted_pairs - stored])
    return True


def sync_configured(engine: Engine, endpoints: Sequence[tuple[str, Sequence[str]]],
                    now: datetime) -> bool:
    """Make the database say what publisher.toml says: `webhook_endpoints` as configured
    (url -> event types), and the pending deliveries of an endpoint no longer named failed
    (once it is named again, a replay sends its events again). Every process that opens
    the database with a config calls it once (the daemon at each tick): with nothing to
    change it costs one SELECT. True when it changed something."""
    for attempt in (1, 2):
        try:
            with engine.begin() as conn:
                changed = sync_endpoints(conn, endpoints)
                if changed:
                    _fail_removed(conn, [url for url, _ in endpoints], now)
                return changed
        except sa.exc.IntegrityError:  # another process made the same rows at the same time
            if attempt == 2:
                raise
    return False  # unreachable: the second attempt returns or raises


def _fail_removed(conn: Connection, configured: list[str], now: datetime) -> None:
    d = webhook_deliveries.c
    conn.execute(webhook_deliveries.update()
                 .where(d.status == PENDING, d.url.not_in(configured))
                 .values(status=FAILED, last_reply=REMOVED_REPLY, claimed_by=None,
                         claimed_at=None, next_attempt_at=None, updated_at=now))


def unneeded_before(before: datetime) -> sa.ColumnElement[bool]:
    """Events older than `before` that no delivery row names any more (retention)."""
    d, e = webhook_deliveries.c, webhook_events.c
    return sa.and_(e.at < before, ~sa.exists().where(d.event_id == e.id))


def delete_unneeded(conn: Connection, before: datetime, chunk: int) -> int:
    """Delete up to `chunk` events `unneeded_before(before)`: their deliveries are gone, so
    only a replay could want them, and a replay reaches back no further than retention."""
    e = webhook_events.c
    ids = sa.select(e.id).where(unneeded_before(before)).order_by(e.id).limit(chunk)
    return int(conn.execute(sa.delete(webhook_events).where(
        e.id.in_(ids.scalar_subquery()), unneeded_before(before))).rowcount)


def forget_subscriber(conn: Connection, subscriber_id: int) -> None:
    """An erasure: the events about this reader keep their id and nothing else, so no
    delivery or replay sends their address again."""
    conn.execute(webhook_events.update()
                 .where(webhook_events.c.order_key == subscriber_key(subscriber_id))
                 .values(data={"subscriber": {"id": subscriber_id}}))


def send_event(conn: Connection, event_type: str, send_id: int, now: datetime) -> int | None:
    """Record a send's event (started, finished, paused, cancelled) in the caller's
    transaction, its data read from the send's row. Only an issue's send reports: an
    automation step's or the confirmation mails' send is not a send an operator started."""
    if not wanted(conn, [event_type]):
        return None
    row = conn.execute(sa.select(sends.c.id, sends.c.issue_slug, sends.c.subject, sends.c.kind,
                                 sends.c.status, sends.c.audience_count)
                       .where(sends.c.id == send_id)).one_or_none()
    if row is None or row.kind not in (None, "issue"):
        return None
    counts = {str(state): int(n) for state, n in conn.execute(
        sa.select(deliveries.c.status, sa.func.count()).where(deliveries.c.send_id == send_id)
        .group_by(deliveries.c.status))}
    data = {"send": {"id": send_id, "issue": row.issue_slug, "subject": row.subject,
                     "status": row.status, "audience": row.audience_count,
                     "deliveries": counts}}
    return record(conn, Event(event_type, send_key(send_id), lambda: data), now)
