"""The durable outbox: one delivery row per (send, subscriber), claimed and settled in batches.

Row states: queued -> sending -> sent | deferred | failed (deferred -> sending again when
due), and cancelled (kept, never sent) by the operator's cancel. A send is sending, paused,
cancelled or done; rows are claimed only while it is sending, and that condition is part of
the claim statement itself, so a pause or cancel committed before a claim is honoured by
every process (publisher.sending.control changes a send's state).

A claim is committed before any SMTP traffic and a result after it, so a process killed at
any moment loses nothing: rows it had claimed but not settled ("in flight") are claimed
again, and only those can reach a recipient twice (with the same Message-ID).
A row's `attempts` count SMTP transactions that got an answer (or a connection that
failed), written with their result; a claim taken back from a process that stopped before
settling it is a lost claim, counted apart (`lost_claims`), and never spends the reader's
attempts (publisher.sending.control sets aside a row that too many processes lost).
Claims are single atomic UPDATE … RETURNING statements; on PostgreSQL the candidate rows are
locked with FOR UPDATE SKIP LOCKED so any number of workers share the queue. A batch of
results settles in one UPDATE … FROM the batch's values (PostgreSQL's `unnest`, SQLite's
`json_each`), so the database runs a statement per batch, not per message.

Delivery and send rows are written by five modules of one concern and nowhere else (the
owners in publisher.db.TABLE_OWNERS, kept by tests/test_table_owners.py): this one (start,
claim, settle, a returned report, erasure), publisher.sending.control (pause, resume,
cancel, retry, release), publisher.sending.retention (prune), publisher.sending.enrolment
(automation steps) and publisher.sending.oneoff (one-off mails: confirmations).
This module also owns what a transport reply does to a delivery (`result_of`: sent,
deferred on the Backoff schedule, failed, hard bounce) and what a report that came back
later does to it (`record_returned`), and stores the email frozen at a send's start with
its translations (in the form publisher.sending.frozen owns), handing it back as the same
RenderedEmail; each row records then which edition it gets, by its reader's language
(`language`: the content's; `strings_language`: its fixed strings', when the reader's
language has no translation and gets the original with its own strings).
"""

from __future__ import annotations

import json
import os
import random
import re
import socket
import sqlite3
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect, Engine

from publisher import events
from publisher.analytics import counters
from publisher.db import deliveries, sends, subscriber_table
from publisher.errors import SendError
from publisher.mail.rendered import RenderedEmail
from publisher.mail.smtp import Kind, Reply
from publisher.sending.frozen import stored_form, thawed
from publisher.subscribers import store
from publisher.subscribers.languages import edition_language

QUEUED, SENDING, SENT, DEFERRED, FAILED = "queued", "sending", "sent", "deferred", "failed"
CANCELLED = "cancelled"
STATES = (QUEUED, SENDING, SENT, DEFERRED, FAILED, CANCELLED)
OPEN_STATES = (QUEUED, SENDING, DEFERRED)  # not settled yet: still to be sent (or retried)
SEND_ACTIVE, SEND_PAUSED, SEND_CANCELLED, SEND_DONE = "sending", "paused", "cancelled", "done"


@dataclass(frozen=True)
class Delivery:
    """A claimed row: who gets which send, and how many SMTP transactions it has had
    before this claim."""

    id: int
    send_id: int
    subscriber_id: int
    email: str
    name: str
    attempts: int
    language: str | None = None  # the edition it gets (None: a row from before migration 13)
    strings_language: str | None = None  # its fixed strings' language, when not the edition's

    @property
    def edition(self) -> str | None:
        """The key of the prepared message it gets among the send's editions."""
        return self.strings_language or self.language


@dataclass(frozen=True)
class Result:
    """The outcome of one SMTP attempt for a delivery (or of a row never handed to SMTP:
    `attempted` False, and the row's attempts stay as they were)."""

    delivery_id: int
    status: str  # sent | deferred | failed
    reply: str
    next_attempt_at: datetime | None = None
    hard_bounce: bool = False
    attempted: bool = True


@dataclass(frozen=True)
class Backoff:
    """When a deferred delivery is tried again: exponential backoff with jitter; after
    max_attempts it fails for good."""

    base_seconds: float
    max_seconds: float
    max_attempts: int
    jitter: Callable[[], float] = lambda: random.uniform(0.8, 1.2)  # noqa: S311

    def next_attempt(self, attempts: int, now: datetime) -> datetime | None:
        if attempts >= self.max_attempts:
            return None
        delay = min(self.base_seconds * 2 ** (attempts - 1), self.max_seconds)
        return now + timedelta(seconds=delay * self.jitter())


def result_of(delivery: Delivery, reply: Reply, backoff: Backoff, now: datetime) -> Result:
    """What the transport's reply makes of a delivery: sent; deferred until the backoff's
    next attempt (failed once it has had them all, this one included); failed, and a hard
    bounce for a 5xx."""
    if reply.kind is Kind.SENT:
        return Result(delivery.id, SENT, reply.text)
    if reply.kind is Kind.TEMPORARY:
        made = delivery.attempts + 1
        when = backoff.next_attempt(made, now)
        if when is None:
            return Result(delivery.id, FAILED, f"{reply.text} (gave up after {made} attempts)")
        return Result(delivery.id, DEFERRED, reply.text, next_attempt_at=when)
    hard_bounce = reply.code is not None and 500 <= reply.code < 600
    return Result(delivery.id, FAILED, reply.text, hard_bounce=hard_bounce)


ONEOFF_KIND = "oneoff"  # sends.kind of the standing sends of one-off mails (sending.oneoff)


def worker_id() -> str:
    """host:pid — lets a restarted process on the same host reclaim a dead process's rows."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Audience:
    """Who a send is for, beyond being confirmed: the expression as written (recorded with
    the send) and its SQL condition over the subscribers table (publisher.subscribers)."""

    expression: str
    condition: Any  # a SQLAlchemy boolean clause over subscriber_table


@dataclass(frozen=True)
class Window:
    """Deliver at a local time of day in each subscriber's zone (`send_local`); a
    subscriber without a zone gets the site's."""

    local_time: time
    default_zone: str


def start_send(engine: Engine, entry_id: str, rendered: RenderedEmail, now: datetime,
               audience: Audience | None = None, window: Window | None = None) -> int:
    """Snapshot the audience (confirmed subscribers now, narrowed by `audience`) in one
    transaction, with one INSERT … SELECT; idempotent.

    The send is the issue's (`rendered.slug`), and `rendered` is frozen with it, so every
    delivery (and every retry) of the send is the same message even if the issue file is
    edited meanwhile.
    """
    return start_or_join(engine, entry_id, rendered, now, audience, window)[0]


def start_or_join(engine: Engine, entry_id: str, rendered: RenderedEmail, now: datetime,
                  audience: Audience | None = None, window: Window | None = None,
                  counted_links: list[str] | None = None) -> tuple[int, bool]:
    """start_send, saying whether this call started it (True) or joined a send that
    another process had started (False). `counted_links`: the email's links whose clicks
    are counted, numbered with the send in its transaction (publisher.analytics.links)."""
    try:
        return _start_send(engine, entry_id, rendered, now, audience, window,
                           counted_links or [])
    except sa.exc.IntegrityError:  # another process started it a moment ago: join that one
        found = find_send(engine, rendered.slug)
        if found is None:
            raise
        return found, False


# Rows added at once after which PostgreSQL's planner is told (ANALYZE deliveries).
ANALYZE_AFTER_ROWS = 1000


def refresh_statistics(engine: Engine, added: int) -> None:
    """After `added` delivery rows went in at once, let PostgreSQL's planner see them.

    Until autovacuum's next look (a minute or more), it plans from the statistics of the
    table before them: the next round's enrolment query then compared every reader with
    every row of the send (40 million comparisons, 4 s at 9,000 readers; 7 ms planned from
    fresh statistics). ANALYZE samples the table and blocks no reader or writer."""
    if added >= ANALYZE_AFTER_ROWS and engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.execute(sa.text(f"ANALYZE {deliveries.name}"))
            conn.commit()


def _recipients(audience: Audience | None) -> Any:
    """The condition a subscriber meets to be in a send's snapshot."""
    confirmed = subscriber_table.c.status == store.CONFIRMED
    return confirmed if audience is None else sa.and_(confirmed, audience.condition)


def _start_send(engine: Engine, entry_id: str, rendered: RenderedEmail, now: datetime,
                audience: Audience | None, window: Window | None,
                counted_links: list[str]) -> tuple[int, bool]:
    slug, subject, content = rendered.slug, rendered.subject, stored_form(rendered)
    with engine.begin() as conn:
        existing = conn.execute(sa.select(sends.c.id).where(sends.c.issue_slug == slug)).scalar()
        if existing is not None:
            return int(existing), False
        send_id = int(conn.execute(sends.insert().values(
            issue_slug=slug, entry_id=entry_id, subject=subject[:998], status=SEND_ACTIVE,
            audience_count=0, created_at=now, content=content, kind="issue",
            audience=audience.expression[:1000] if audience else None).returning(sends.c.id)
        ).scalar_one())
        chosen = sa.select(
            sa.literal(send_id), subscriber_table.c.id, subscriber_table.c.email,
            subscriber_table.c.name,
            sa.literal(QUEUED), sa.literal(0), sa.literal(now, type_=deliveries.c.updated_at.type),
        ).where(_recipients(audience)).order_by(subscriber_table.c.id)
        conn.execute(deliveries.insert().from_select(
            ["send_id", "subscriber_id", "email", "name", "status", "attempts", "updated_at"],
            chosen))
        record_editions(conn, send_id, rendered)
        counters.record_links(conn, send_id, counted_links)
        if window is not None:
            _apply_window(conn, send_id, window, now)
        count = conn.execute(sa.select(sa.func.count()).select_from(deliveries)
                             .where(deliveries.c.send_id == send_id)).scalar_one()
        conn.execute(sends.update().where(sends.c.id == send_id)
                     .values(audience_count=int(count)))
        events.send_event(conn, events.SEND_STARTED, send_id, now)
    refresh_statistics(engine, int(count))  # once the rows are committed, so ANALYZE sees them
    return send_id, True


def record_editions(conn: Connection, send_id: int,
                    rendered: RenderedEmail | None = None) -> None:
    """Record on each new row of a send (no language yet) the edition its reader gets
    (publisher.subscribers.languages), from `rendered` or else the send's frozen email:
    one UPDATE per distinct reader language, as the window's per zone."""
    if rendered is None:
        stored = conn.execute(sa.select(sends.c.content).where(sends.c.id == send_id)).scalar()
        if not stored:
            return
        rendered = thawed(dict(stored))
    s, d = subscriber_table.c, deliveries.c
    in_send = sa.select(d.subscriber_id).where(d.send_id == send_id, d.language.is_(None))
    readers = conn.execute(sa.select(s.language).distinct().where(s.id.in_(in_send))).scalars()
    for reader in list(readers):
        key = edition_language(reader, rendered.language, list(rendered.translations))
        holders = sa.select(s.id).where(s.language.is_(None) if reader is None
                                        else s.language == reader)
        conn.execute(deliveries.update().where(d.send_id == send_id, d.language.is_(None),
                                               d.subscriber_id.in_(holders))
                     .values(_edition_columns(rendered, key)))


def _edition_columns(rendered: RenderedEmail, key: str) -> dict[str, str | None]:
    """What a row records of the edition `key`: its content's language, and the language
    of its fixed strings when they are not the content's (the original in a reader's
    language that has no translation, keyed by that language)."""
    content = rendered.translations[key].language if key in rendered.translations \
        else rendered.language
    return {"language": content, "strings_language": None if content == key else key}


def _apply_window(conn: Connection, send_id: int, window: Window, now: datetime) -> None:
    """Set each row's not_before to the first `window.local_time` at or after `now` in its
    subscriber's zone: one UPDATE per distinct zone, so the snapshot stays set-based.
    A subscriber without a zone (or with one this system does not know) gets the default."""
    s = subscriber_table.c
    in_send = sa.select(deliveries.c.subscriber_id).where(deliveries.c.send_id == send_id)
    zones = conn.execute(sa.select(s.timezone).distinct().where(s.id.in_(in_send))).scalars()
    for zone in list(zones):
        when = first_local_time(window.local_time, _zone(zone, window.default_zone), now)
        holders = sa.select(s.id).where(s.timezone.is_(None) if zone is None
                                        else s.timezone == zone)
        conn.execute(deliveries.update().where(deliveries.c.send_id == send_id,
                                               deliveries.c.subscriber_id.in_(holders))
                     .values(not_before=when))


def _zone(name: str | None, default: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or default)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(default)


def first_local_time(local_time: time, zone: ZoneInfo, now: datetime) -> datetime:
    """The first moment at or after `now` when clocks in `zone` show `local_time` (UTC).
    A time repeated by a DST change counts twice (its second occurrence is still that
    day's, not the next day's); a time skipped falls on the same offset as the hour before
    it, so it comes out later on the wall (02:30 on a spring-forward night is 03:30)."""
    day = now.astimezone(zone).date()
    while True:
        for moment in _occurrences(datetime.combine(day, local_time, tzinfo=zone)):
            if moment >= now:
                return moment
        day += timedelta(days=1)


def _occurrences(wall: datetime) -> list[datetime]:
    """The UTC moments a wall-clock time names: two in a repeated hour (fold 0 then fold
    1), else one (fold 1 of a skipped time is not on the wall: only fold 0 is kept)."""
    first = wall.replace(fold=0).astimezone(UTC)
    second = wall.replace(fold=1).astimezone(UTC)
    repeated = second > first and second.astimezone(wall.tzinfo).replace(
        tzinfo=None) == wall.replace(tzinfo=None, fold=0)
    return [first, second] if repeated else [first]


def frozen_content(engine: Engine, send_id: int) -> tuple[RenderedEmail, str, datetime]:
    """The rendered email stored when the send began, its entry id, and when it began."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(sends.c.content, sends.c.entry_id, sends.c.created_at)
                           .where(sends.c.id == send_id)).one()
    if not row.content:
        raise SendError(f"send {send_id}: no stored content")
    return thawed(dict(row.content)), str(row.entry_id), row.created_at


def last_sent_at(engine: Engine, send_id: int) -> datetime | None:
    """When the send's latest delivery was recorded sent (None: none yet)."""
    with engine.connect() as conn:
        found = conn.execute(sa.select(sa.func.max(deliveries.c.sent_at))
                             .where(deliveries.c.send_id == send_id)).scalar()
    return None if found is None else _as_utc(found)


def _as_utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def audience_size(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(subscriber_table)
                                .where(subscriber_table.c.status == store.CONFIRMED))
                   .scalar_one())


def find_send(engine: Engine, slug: str) -> int | None:
    with engine.connect() as conn:
        value = conn.execute(sa.select(sends.c.id).where(sends.c.issue_slug == slug)).scalar()
    return int(value) if value is not None else None


def _claimable_states(now: datetime, lease: timedelta, dead: Sequence[str],
                      mine: tuple[str, Collection[int]] | None) -> list[Any]:
    """Each way a row of a send can be due, one condition per state (each starts with the
    status, so an index on (send_id, status) serves it)."""
    c = deliveries.c
    states = [sa.and_(c.status == QUEUED, sa.or_(c.not_before.is_(None), c.not_before <= now)),
              sa.and_(c.status == DEFERRED, c.next_attempt_at <= now),
              sa.and_(c.status == SENDING, c.claimed_at < now - lease)]
    if dead:
        states.append(sa.and_(c.status == SENDING, c.claimed_by.in_(list(dead))))
    if mine is not None:  # rows this process claimed but no longer holds (a lost reply)
        worker, held = mine
        states.append(sa.and_(c.status == SENDING, c.claimed_by == worker,
                              c.id.not_in(list(held)) if held else sa.true()))
    return states


def _candidates(dialect: str, send_id: int, limit: int, states: list[Any]) -> Any:
    """The ids of the first `limit` due rows of an active send, in id order: the first
    `limit` of each state, each read in id order straight off the (send_id, status, id)
    index, then the first `limit` of their union (on PostgreSQL each state's rows are
    locked with SKIP LOCKED, so concurrent workers take different rows). One OR over the
    send would read and sort every due row of the send at each claim: quadratic over a
    large send."""
    c = deliveries.c
    active = sa.exists().where(sends.c.id == send_id, sends.c.status == SEND_ACTIVE)
    selects = [sa.select(c.id).where(c.send_id == send_id, active, state)
               .order_by(c.id).limit(limit) for state in states]
    firsts: list[Any]
    if dialect == "postgresql":  # locking CTEs: rows another worker holds are skipped
        firsts = [first.with_for_update(skip_locked=True).cte(f"due_{n}")
                  for n, first in enumerate(selects)]
    else:
        firsts = [first.subquery() for first in selects]
    due = sa.union(*(sa.select(first.c.id) for first in firsts)).subquery()
    return sa.select(due.c.id).order_by(due.c.id).limit(limit)


def dead_local_workers(engine: Engine, send_id: int) -> list[str]:
    """Workers on this host that hold claims but whose process is gone (killed, crashed)."""
    host = socket.gethostname()
    c = deliveries.c
    with engine.connect() as conn:
        owners = conn.execute(sa.select(c.claimed_by).distinct()
                              .where(c.send_id == send_id, c.status == SENDING)).scalars()
        dead = []
        for owner in owners:
            name, _, pid = (owner or "").rpartition(":")
            if name == host and pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                dead.append(owner)
    return dead


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def claim_batch(engine: Engine, send_id: int, worker: str, now: datetime, limit: int,
                lease: timedelta = timedelta(minutes=10),
                dead_workers: Sequence[str] = (),
                held: Collection[int] | None = None) -> list[Delivery]:
    """Atomically move up to `limit` due rows to `sending` for this worker; commit.

    With `held` (the ids this process has claimed and not yet settled), rows left
    `sending` under this worker's own name and not held are claimed again at once: a claim
    whose commit reply was lost, or a drain that gave up during an outage. A claim spends
    no attempt; taking a row back from another process (dead, or past its lease) counts
    one lost claim.
    """
    c = deliveries.c
    mine = (worker, held) if held is not None else None
    states = _claimable_states(now, lease, dead_workers, mine)
    candidates = _candidates(engine.dialect.name, send_id, limit, states)
    taken_back = sa.and_(c.status == SENDING, c.claimed_by != worker)
    statement = (
        deliveries.update().where(c.id.in_(candidates.scalar_subquery()))
        .values(status=SENDING, claimed_by=worker, claimed_at=now, updated_at=now,
                lost_claims=c.lost_claims + sa.case((taken_back, 1), else_=0))
        .returning(c.id, c.send_id, c.subscriber_id, c.email, c.name, c.attempts, c.language,
                   c.strings_language)
    )
    with engine.begin() as conn:
        rows = conn.execute(statement).all()
    return sorted((Delivery(*row) for row in rows), key=lambda d: d.id)


def suppressed(engine: Engine, batch: list[Delivery]) -> dict[int, str]:
    """Deliveries whose subscriber left (or bounced) since the snapshot: never sent."""
    with engine.connect() as conn:
        status = store.statuses(conn, [d.subscriber_id for d in batch])
    return {d.id: status.get(d.subscriber_id, "erased") for d in batch
            if status.get(d.subscriber_id) != store.CONFIRMED}


def record_results(engine: Engine, results: Sequence[Result], now: datetime,
                   worker: str | None = None, hard_bounce_threshold: int = 1) -> None:
    """Settle a batch of attempts in one transaction; safe to run again after a lost reply.

    Only rows still `sending` (under `worker`, when given) change, so a retry after a commit
    whose reply was lost changes nothing, and a row another worker took over is left to it.
    Each attempted result adds one to its row's attempts. A 5xx reply counts as a hard
    bounce by the same rule as a DSN that says so. The rows settle in one UPDATE … FROM the
    batch's values (one round trip, one statement for the server to run, not one per row).
    """
    if not results:
        return
    rows = [_settled_values(r, now) for r in results]
    with engine.begin() as conn:
        _count_hard_bounces(conn, results, worker, now, hard_bounce_threshold)
        by_worker = {} if worker is None else {"worker": worker}
        if conn.dialect.name == "sqlite" and sqlite3.sqlite_version_info < (3, 33):
            conn.execute(_settle_each(worker is not None),  # no UPDATE … FROM before 3.33
                         [{**row, "settled_at": now, **by_worker} for row in rows])
        else:
            conn.execute(_settle_all(conn.dialect.name, worker is not None),
                         {**_settled_table_values(conn.dialect, rows), "settled_at": now,
                          **by_worker})


def _still_mine(status: Any, worker: Any) -> Any:
    """A row still `sending` (`status`: the status column, or an expression equal to it),
    and under `worker` (a name, or a bound parameter) unless that is None."""
    mine = status == SENDING
    return mine if worker is None else sa.and_(mine, deliveries.c.claimed_by == worker)


def _count_hard_bounces(conn: Connection, results: Sequence[Result], worker: str | None,
                        now: datetime, threshold: int) -> None:
    """Count the batch's hard bounces against their subscribers, before the rows settle, so
    that a repeated write counts nothing twice (a settled row is no longer still mine)."""
    bounced = {r.delivery_id: r.reply for r in results if r.hard_bounce}
    if not bounced:
        return
    c = deliveries.c
    rows = conn.execute(sa.select(c.id, c.subscriber_id)
                        .where(c.id.in_(list(bounced)), _still_mine(c.status, worker))).all()
    for delivery_id, subscriber_id in rows:
        store.count_hard_bounces(
            conn, [int(subscriber_id)], threshold, now,
            {"status": bounced[delivery_id][:3], "detail": bounced[delivery_id][:200],
             "via": "smtp"})


_SETTLED = (("rid", deliveries.c.id), ("new_status", deliveries.c.status),
            ("reply", deliveries.c.last_reply), ("next_at", deliveries.c.next_attempt_at),
            ("sent_at", deliveries.c.sent_at), ("attempted", deliveries.c.attempts))


def _settled_values(result: Result, now: datetime) -> dict[str, Any]:
    """What a result writes to its row, by the names of _SETTLED."""
    return {"rid": result.delivery_id, "new_status": result.status,
            "reply": result.reply[:1000], "next_at": result.next_attempt_at,
            "sent_at": now if result.status == SENT else None,
            "attempted": int(result.attempted)}


def _settling(by_worker: bool) -> tuple[Any, dict[str, Any]]:
    """The condition a settling UPDATE keeps and the columns it sets besides _SETTLED's.

    It finds its rows by id alone. Given `status = 'sending'`, PostgreSQL's planner (its
    statistics lag a send's fast-changing statuses) may read every `sending` row through
    ix_deliveries_claim and compare each with each result, milliseconds a batch;
    coalesce(status, '') is the same value (status is NOT NULL) and no index covers it."""
    c = deliveries.c
    worker = sa.bindparam("worker", type_=c.claimed_by.type) if by_worker else None
    settled_at = sa.bindparam("settled_at", type_=c.updated_at.type)
    return (_still_mine(sa.func.coalesce(c.status, ""), worker),
            {"claimed_by": None, "updated_at": settled_at})


@cache
def _settle_all(dialect: str, by_worker: bool) -> Any:
    """One UPDATE that settles a whole batch FROM a table of its values (_settled_table),
    built once: its text is the same whatever the batch's size, so it is compiled once
    per process and prepared once per connection on PostgreSQL."""
    still_mine, settled = _settling(by_worker)
    c, v = deliveries.c, _settled_table(dialect).c
    return (deliveries.update().where(c.id == v.rid, still_mine)
            .values(status=v.new_status, last_reply=v.reply, next_attempt_at=v.next_at,
                    sent_at=v.sent_at, attempts=c.attempts + v.attempted, **settled))


def _settled_table(dialect: str) -> Any:
    """The batch as a table with the columns of _SETTLED: on PostgreSQL `unnest` of one
    typed array per column (a column of NULLs keeps its type); on SQLite `json_each` of
    one JSON array of rows."""
    if dialect == "postgresql":
        arrays = [sa.bindparam(f"settled_{name}", type_=sa.ARRAY(column.type))
                  for name, column in _SETTLED]
        columns = [sa.column(name, column.type) for name, column in _SETTLED]
        return sa.func.unnest(*arrays).table_valued(*columns).render_derived(name="settled")
    each = sa.func.json_each(sa.bindparam("settled_rows")).table_valued("value")
    return sa.select(*(sa.func.json_extract(each.c.value, f"$[{n}]").label(name)
                       for n, (name, _column) in enumerate(_SETTLED))).subquery("settled")


def _settled_table_values(dialect: Dialect, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The parameters of _settled_table for `rows`: one list per column on PostgreSQL; on
    SQLite one JSON document, each value as its column's type binds it (timestamps in the
    text SQLite rows hold, which the claims compare)."""
    if dialect.name == "postgresql":
        return {f"settled_{name}": [row[name] for row in rows] for name, _column in _SETTLED}
    bind = _bind_processors(dialect)
    return {"settled_rows": json.dumps([[row[name] if process is None else process(row[name])
                                         for name, process in bind] for row in rows])}


@cache
def _bind_processors(dialect: Dialect) -> list[tuple[str, Callable[[Any], Any] | None]]:
    return [(name, column.type.dialect_impl(dialect).bind_processor(dialect))
            for name, column in _SETTLED]


@cache
def _settle_each(by_worker: bool) -> Any:
    """The same for one row, with the values of _SETTLED as bound parameters (SQLite
    before 3.33, which has no UPDATE … FROM: one execution per result)."""
    still_mine, settled = _settling(by_worker)
    c = deliveries.c
    return (deliveries.update().where(c.id == sa.bindparam("rid"), still_mine)
            .values(status=sa.bindparam("new_status"), last_reply=sa.bindparam("reply"),
                    next_attempt_at=sa.bindparam("next_at"), sent_at=sa.bindparam("sent_at"),
                    attempts=c.attempts + sa.bindparam("attempted"), **settled))


def counts(engine: Engine, send_id: int) -> dict[str, int]:
    c = deliveries.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(c.status, sa.func.count()).where(c.send_id == send_id)
                            .group_by(c.status)).all()
    found = {status: int(n) for status, n in rows}
    return {state: found.get(state, 0) for state in STATES}


def next_due(engine: Engine, send_id: int) -> datetime | None:
    """When the earliest deferred row is due (None when nothing is deferred)."""
    c = deliveries.c
    with engine.connect() as conn:
        value = conn.execute(sa.select(sa.func.min(c.next_attempt_at))
                             .where(c.send_id == send_id, c.status == DEFERRED)).scalar()
    return value if isinstance(value, datetime) else None


def remaining(counts: dict[str, int]) -> int:
    """Rows of a send not settled yet, from its counts per state."""
    return sum(counts[state] for state in OPEN_STATES)


def is_finished(engine: Engine, send_id: int) -> bool:
    tally = counts(engine, send_id)
    return remaining(tally) == 0


def mark_done(engine: Engine, send_id: int, now: datetime) -> None:
    """End a sending send whose rows are all settled (a paused or cancelled one stays so)."""
    open_rows = sa.exists().where(deliveries.c.send_id == send_id,
                                  deliveries.c.status.in_(OPEN_STATES))
    with engine.begin() as conn:  # rows another process added meanwhile keep it sending
        finished = conn.execute(sends.update().where(sends.c.id == send_id,
                                                     sends.c.status == SEND_ACTIVE, ~open_rows)
                                .values(status=SEND_DONE, finished_at=now)).rowcount
        if finished:
            events.send_event(conn, events.SEND_FINISHED, send_id, now)


def last_errors(engine: Engine, send_id: int, limit: int = 10) -> list[tuple[str, str, str]]:
    c = deliveries.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(c.email, c.status, c.last_reply)
                            .where(c.send_id == send_id, c.status.in_([DEFERRED, FAILED]))
                            .order_by(c.updated_at.desc(), c.id.desc()).limit(limit)).all()
    return [(email, status, reply or "") for email, status, reply in rows]


def active_sends(engine: Engine) -> list[tuple[int, str]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(sends.c.id, sends.c.issue_slug)
                            .where(sends.c.status == SEND_ACTIVE).order_by(sends.c.id)).all()
    return [(int(i), str(slug)) for i, slug in rows]


def send_slugs(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        return {str(s) for s in conn.execute(sa.select(sends.c.issue_slug)).scalars()}


def require_send(engine: Engine, slug: str) -> int:
    send_id = find_send(engine, slug)
    if send_id is None:
        raise SendError(f"{slug}: this issue has not been sent (no outbox rows)")
    return send_id


def record_returned(conn: Connection, delivery_id: int, hard: bool, reply: str,
                    now: datetime) -> None:
    """What a report that came back later does to its delivery: a hard bounce fails it,
    a soft bounce or a complaint leaves it sent; either way its reply says what came back."""
    conn.execute(deliveries.update().where(deliveries.c.id == delivery_id)
                 .values(status=FAILED if hard else SENT, last_reply=reply, updated_at=now))


def forget_person(conn: Connection, subscriber_id: int | None, address_key: str) -> None:
    """Blank the address and name of a person's deliveries (erasure), and cut each reply to
    the kind of outcome it was (its "hard:" or "complaint:" mark and SMTP code), which
    names nobody; the rows stay, so every send's counts and bounce rates stay true."""
    c = deliveries.c
    person = sa.func.lower(c.email) == address_key
    if subscriber_id is not None:
        person = sa.or_(person, c.subscriber_id == subscriber_id)
    rows = conn.execute(sa.select(c.id, c.last_reply).where(person)).all()
    for delivery_id, reply in rows:
        conn.execute(deliveries.update().where(c.id == delivery_id).values(
            email="", name="", last_reply=_erased_reply(reply)))


_OUTCOME = re.compile(r"(?:hard:|complaint:|soft:)?\s*(?:\d{3}\b)?")


def _erased_reply(reply: str | None) -> str | None:
    if not reply:
        return None
    outcome = _OUTCOME.match(reply)
    kept = outcome.group().strip() if outcome else ""
    return f"{kept} (erased)".strip()
