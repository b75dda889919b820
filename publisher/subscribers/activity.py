"""Read-only views of the subscriber store for operators: search, one person's record
(status, consent, every event), and daily activity for charts and metrics.

Nothing here writes. Daily figures come from the event log (`subscriber_events`, one row
per status change, written by the store with the change): the confirmed total at the end
of a day is today's count minus the net changes logged after that day, so subscribers
added without events (older data, bulk loads) still count from the start.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from publisher.db import subscriber_events, subscriber_table
from publisher.subscribers import store


@dataclass(frozen=True)
class SubscriberRow:
    id: int
    email: str
    name: str
    status: str
    tags: list[str]
    created_at: datetime
    confirmed_at: datetime | None
    timezone: str | None = None  # the zone the reader chose (send_local windows)


@dataclass(frozen=True)
class Event:
    at: datetime
    event: str
    from_status: str | None
    to_status: str | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class Consent:
    at: datetime | None
    source: str | None
    ip: str | None
    user_agent: str | None


@dataclass(frozen=True)
class Person:
    subscriber: SubscriberRow
    consent: Consent
    bounce_count: int
    events: list[Event]  # oldest first


@dataclass(frozen=True)
class DayActivity:
    day: date  # UTC
    confirmed: int  # new confirmations that day
    unsubscribed: int
    bounced: int
    complained: int
    total_confirmed: int  # confirmed subscribers at the end of the day


def _row(row: Any) -> SubscriberRow:
    return SubscriberRow(id=int(row.id), email=str(row.email), name=str(row.name),
                         status=str(row.status), tags=list(row.tags or []),
                         created_at=row.created_at, confirmed_at=row.confirmed_at,
                         timezone=row.timezone)


def search(engine: Engine, query: str = "", status: str = "", after_id: int = 0,
           limit: int = 50) -> list[SubscriberRow]:
    """Subscribers whose address contains `query` (case-insensitive), keyset-paged by id."""
    c = subscriber_table.c
    select = sa.select(subscriber_table).where(c.id > after_id)
    if query.strip():
        select = select.where(c.email_key.contains(query.strip().casefold(), autoescape=True))
    if status:
        select = select.where(c.status == status)
    with engine.connect() as conn:
        rows = conn.execute(select.order_by(c.id).limit(limit)).all()
    return [_row(row) for row in rows]


def person(engine: Engine, subscriber_id: int) -> Person | None:
    e = subscriber_events.c
    with engine.connect() as conn:
        row = conn.execute(sa.select(subscriber_table)
                           .where(subscriber_table.c.id == subscriber_id)).first()
        if row is None:
            return None
        events = conn.execute(sa.select(e.at, e.event, e.from_status, e.to_status, e.detail)
                              .where(e.subscriber_id == subscriber_id)
                              .order_by(e.id)).all()
    return Person(subscriber=_row(row),
                  consent=Consent(row.consent_at, row.consent_source, row.consent_ip,
                                  row.consent_user_agent),
                  bounce_count=int(row.bounce_count),
                  events=[Event(at, str(event), old, new, dict(detail or {}))
                          for at, event, old, new, detail in events])


def _day(column: Any, dialect: str) -> Any:
    """The UTC calendar day of a stored moment, as YYYY-MM-DD text."""
    if dialect == "sqlite":  # stored as naive UTC text
        return sa.func.date(column)
    return sa.func.to_char(sa.func.timezone("UTC", column), "YYYY-MM-DD")


def _net() -> Any:
    """+1 for an event that made someone confirmed, -1 for one that ended it, else 0."""
    e = subscriber_events.c
    was = sa.func.coalesce(e.from_status, "") == store.CONFIRMED
    now_is = sa.func.coalesce(e.to_status, "") == store.CONFIRMED
    return sa.case((sa.and_(now_is, sa.not_(was)), 1), (sa.and_(was, sa.not_(now_is)), -1),
                   else_=0)


def _per_day(conn: Connection, start: datetime) -> dict[str, tuple[int, ...]]:
    e = subscriber_events.c
    day = _day(e.at, conn.dialect.name)
    net = _net()

    def count(condition: Any) -> Any:
        return sa.func.sum(sa.case((condition, 1), else_=0))

    rows = conn.execute(sa.select(day, count(net == 1), count(e.event == "unsubscribed"),
                                  count(e.event == "bounced"), count(e.event == "complained"),
                                  sa.func.sum(net))
                        .where(e.at >= start).group_by(day)).all()
    return {str(r[0]): tuple(int(v or 0) for v in r[1:]) for r in rows}


def daily_activity(engine: Engine, days: int, today: date) -> list[DayActivity]:
    """One entry per day for the `days` days ending `today` (inclusive), oldest first.
    `confirmed` counts subscribers who became confirmed that day (by double opt-in, or
    an import or add marked confirmed); the others count events of that name."""
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, time(), UTC)
    end = datetime.combine(today + timedelta(days=1), time(), UTC)
    with engine.connect() as conn:
        per_day = _per_day(conn, start)
        later = conn.execute(sa.select(sa.func.sum(_net()))
                             .where(subscriber_events.c.at >= end)).scalar()
        current = conn.execute(sa.select(sa.func.count()).select_from(subscriber_table)
                               .where(subscriber_table.c.status == store.CONFIRMED)
                               ).scalar_one()
    total = int(current) - int(later or 0)
    result: list[DayActivity] = []
    for offset in range(days - 1, -1, -1):  # backwards from today's end
        day = first + timedelta(days=offset)
        confirmed, unsubscribed, bounced, complained, net = per_day.get(
            day.isoformat(), (0, 0, 0, 0, 0))
        result.append(DayActivity(day, confirmed, unsubscribed, bounced, complained, total))
        total -= net
    return result[::-1]


def totals(engine: Engine) -> dict[str, int]:
    """Subscribers per status, and bounce and complaint events ever
    (`bounce_events`, `complaint_events`)."""
    e = subscriber_events.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(e.event, sa.func.count())
                            .where(e.event.in_(["bounced", "complained"]))
                            .group_by(e.event)).all()
    events = {str(name): int(n) for name, n in rows}
    return {**store.stats(engine), "bounce_events": events.get("bounced", 0),
            "complaint_events": events.get("complained", 0)}
