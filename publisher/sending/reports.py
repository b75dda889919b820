"""Read-only views of the outbox for operators: per-send summaries (counts, rate, ETA,
bounce and complaint rates), failures grouped by reply, paged delivery listings, progress
over time. Shared by `publisher status`, `publisher report`, the console and /metrics.

Nothing here writes. A pruned send's rows are gone, so its figures come from the summary
stored when it was pruned (`retention_summary` makes it): every view says the same before
and after `publisher db prune`. Each send is read in one pass over its rows (found through
ix_deliveries_claim); replies are grouped in Python after the database has collapsed
identical ones.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from publisher.analytics.figures import LinkClicks
from publisher.db import deliveries, sends
from publisher.errors import SendError
from publisher.sending import outbox

# Limits large mailbox providers enforce (Gmail / Yahoo bulk-sender rules).
COMPLAINT_RATE_LIMIT = 0.003
BOUNCE_RATE_LIMIT = 0.02
# A send whose rows are all settled is marked done by its drain right after; a watch waits
# this long for that before it stops (a drain that died leaves it to the next daemon tick).
SETTLE_WINDOW = timedelta(seconds=15)
RATE_WINDOW = timedelta(seconds=60)  # `rate_per_second` counts the sends of the last minute
HARD_PREFIX, COMPLAINT_PREFIX = "hard:", "complaint:"  # made by sending.returned_mail


@dataclass(frozen=True)
class SendSummary:
    """One send as an operator sees it."""

    send_id: int
    slug: str
    subject: str
    state: str  # outbox.SEND_ACTIVE | SEND_PAUSED | SEND_CANCELLED | SEND_DONE
    counts: dict[str, int]  # every outbox.STATES key
    total: int
    created_at: datetime
    finished_at: datetime | None
    paused_at: datetime | None
    cancelled_at: datetime | None
    first_sent_at: datetime | None
    last_sent_at: datetime | None
    rate_per_second: float | None  # sent per second over the last minute; None unless sending
    average_rate: float | None  # sent / (last_sent_at - first_sent_at)
    eta_seconds: float | None  # remaining / current rate; None when idle or unknown
    bounces: int  # hard bounces: 5xx at send time or a DSN later
    complaints: int
    pruned: bool
    audience: str | None = None  # the tag expression it was sent to; None: every confirmed
    # counts per state of each language sent ("" for rows from before languages were
    # recorded), in language order; empty for a send pruned before then
    by_language: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def remaining(self) -> int:
        return outbox.remaining(self.counts)

    @property
    def bounce_rate(self) -> float:
        return self.bounces / self.counts["sent"] if self.counts["sent"] else 0.0

    @property
    def complaint_rate(self) -> float:
        return self.complaints / self.counts["sent"] if self.counts["sent"] else 0.0

    @property
    def over_limits(self) -> bool:
        return (self.bounce_rate > BOUNCE_RATE_LIMIT
                or self.complaint_rate > COMPLAINT_RATE_LIMIT)


@dataclass(frozen=True)
class DeliveryRow:
    """One outbox row, for the console's per-send listing."""

    id: int
    subscriber_id: int
    email: str
    status: str
    attempts: int
    last_reply: str
    next_attempt_at: datetime | None
    updated_at: datetime
    sent_at: datetime | None


# --- grouping replies -------------------------------------------------------------------

_LEADING_CODE = re.compile(r"^((?:hard|soft|complaint):)?\s*(\d{3}(?![\d.]))?[ -]*"
                           r"(\d\.\d{1,3}\.\d{1,3}(?![\d.]))?\s*")
_CONTINUATION = re.compile(r"^\d{3}[ -](?:\d\.\d{1,3}\.\d{1,3}(?![\d.]))?")
_ADDRESS = re.compile(r"<?[^\s<>@]+@[^\s<>@]+>?")
_TOKEN = re.compile(r"[\w.+/=-]*\d[\w.+/=-]*")


def reply_group(reply: str) -> str:
    """The reason a reply gives, without what differs per recipient: the "hard:" or
    "complaint:" mark, SMTP code and enhanced status code kept; the codes repeated on a
    multi-line reply's later lines dropped; addresses, ids and numbers masked."""
    first, *more = reply.strip().splitlines() or [""]
    text = " ".join([first, *(_CONTINUATION.sub("", line) for line in more)])
    text = " ".join(text.split())
    match = _LEADING_CODE.match(text)
    head = " ".join(part for part in match.groups() if part) if match else ""
    rest = text[match.end():] if match else text
    rest = _ADDRESS.sub("<address>", rest)
    rest = _TOKEN.sub(_masked, rest)
    return f"{head} {rest}".strip()[:200]


def _masked(token: re.Match[str]) -> str:
    """A number becomes #, a long or dotted token with digits (queue id, IP address) <id>;
    a short code such as Yahoo's [TSS04] says why, and stays."""
    text = token.group()
    if text.isdigit():
        return "#"
    return "<id>" if len(text) >= 8 or "." in text else text


def is_bounce(status: str, reply: str) -> bool:
    """A hard bounce: failed with a 5xx reply at send time, or by a verified DSN later."""
    return status == outbox.FAILED and (bool(re.match(r"5\d\d\b", reply))
                                        or reply.startswith(HARD_PREFIX))


# --- summaries --------------------------------------------------------------------------

@dataclass(frozen=True)
class _Tally:
    counts: dict[str, int]
    first_sent_at: datetime | None
    last_sent_at: datetime | None
    recent: int
    bounces: int
    complaints: int
    by_language: dict[str, dict[str, int]] = field(default_factory=dict)


def _tally(conn: Connection, send_id: int, since: datetime) -> _Tally:
    """One pass over a send's rows: counts (in all and by language), first and last send,
    sends since `since`, bounces and complaints."""
    c = deliveries.c
    reply = sa.func.coalesce(c.last_reply, "")
    bounce = sa.and_(c.status == outbox.FAILED,
                     sa.or_(reply.like(HARD_PREFIX + "%"), reply.like("5%")))
    rows = conn.execute(sa.select(
        c.status, sa.func.count(), sa.func.min(c.sent_at), sa.func.max(c.sent_at),
        sa.func.sum(sa.case((c.sent_at >= since, 1), else_=0)),
        sa.func.sum(sa.case((bounce, 1), else_=0)),
        sa.func.sum(sa.case((reply.like(COMPLAINT_PREFIX + "%"), 1), else_=0)), c.language,
    ).where(c.send_id == send_id).group_by(c.status, c.language)).all()
    first = min((r[2] for r in rows if r[2] is not None), default=None)
    last = max((r[3] for r in rows if r[3] is not None), default=None)
    bounces = sum(int(r[5] or 0) for r in rows)
    if bounces:  # the LIKE above is a prefilter ("5…" could be any text): check each
        bounces = _checked_bounces(conn, send_id)
    return _Tally(_counted(rows), _aware(first), _aware(last),
                  sum(int(r[4] or 0) for r in rows if r[0] == outbox.SENT),
                  bounces, sum(int(r[6] or 0) for r in rows),
                  _by_language(rows))


def _counted(rows: Sequence[Any]) -> dict[str, int]:
    """Every state's count over rows of (status, count, …)."""
    counts = dict.fromkeys(outbox.STATES, 0)
    for row in rows:
        counts[str(row[0])] += int(row[1])
    return counts


def _by_language(rows: Sequence[Any]) -> dict[str, dict[str, int]]:
    """Every state's count for each language among rows of (status, count, …, language),
    in language order; "" for rows from before languages were recorded."""
    grouped: dict[str, list[Any]] = {}
    for row in rows:
        grouped.setdefault(str(row[-1] or ""), []).append(row)
    return {language: _counted(grouped[language]) for language in sorted(grouped)}


def _checked_bounces(conn: Connection, send_id: int) -> int:
    c = deliveries.c
    rows = conn.execute(sa.select(c.last_reply, sa.func.count())
                        .where(c.send_id == send_id, c.status == outbox.FAILED)
                        .group_by(c.last_reply)).all()
    return sum(int(n) for reply, n in rows if is_bounce(outbox.FAILED, reply or ""))


def _aware(value: Any) -> datetime | None:
    """min()/max() keep the column's type, but be sure: aware UTC or None."""
    if value is None:
        return None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _average(sent: int, first: datetime | None, last: datetime | None) -> float | None:
    if not sent or first is None or last is None or last <= first:
        return None
    return sent / (last - first).total_seconds()


def _rate_seconds(first_sent_at: datetime | None, now: datetime) -> float:
    """The time the current rate is measured over: the last minute, or the time the send
    has actually been sending when that is shorter (at least a second)."""
    window = RATE_WINDOW.total_seconds()
    if first_sent_at is None:
        return window
    return max(1.0, min(window, (now - first_sent_at).total_seconds()))


def _summary(conn: Connection, row: Any, now: datetime) -> SendSummary:
    stored = row.summary or None  # stored by prune before its first delete
    if stored is not None:
        tally = _Tally(dict(stored["counts"]), _parsed(stored["first_sent_at"]),
                       _parsed(stored["last_sent_at"]), 0, int(stored["bounces"]),
                       int(stored["complaints"]), dict(stored.get("by_language") or {}))
    else:
        tally = _tally(conn, int(row.id), now - RATE_WINDOW)
    sending = row.status == outbox.SEND_ACTIVE  # a current rate only while it is sending
    rate = tally.recent / _rate_seconds(tally.first_sent_at, now) if sending else None
    remaining = outbox.remaining(tally.counts)
    eta = remaining / rate if rate and remaining else None
    return SendSummary(
        send_id=int(row.id), slug=str(row.issue_slug), subject=str(row.subject),
        state=str(row.status), counts=tally.counts, total=sum(tally.counts.values()),
        created_at=row.created_at, finished_at=row.finished_at, paused_at=row.paused_at,
        cancelled_at=row.cancelled_at, first_sent_at=tally.first_sent_at,
        last_sent_at=tally.last_sent_at, rate_per_second=rate,
        average_rate=_average(tally.counts[outbox.SENT], tally.first_sent_at,
                              tally.last_sent_at),
        eta_seconds=eta, bounces=tally.bounces, complaints=tally.complaints,
        pruned=row.pruned_at is not None, audience=row.audience,
        by_language=tally.by_language)


def _parsed(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


_SEND_COLUMNS = (sends.c.id, sends.c.issue_slug, sends.c.subject, sends.c.status,
                 sends.c.created_at, sends.c.finished_at, sends.c.paused_at,
                 sends.c.cancelled_at, sends.c.pruned_at, sends.c.summary, sends.c.audience)


def send_summaries(engine: Engine, now: datetime) -> list[SendSummary]:
    """Every send, newest first."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(*_SEND_COLUMNS).order_by(sends.c.id.desc())).all()
        return [_summary(conn, row, now) for row in rows]


def send_summary(engine: Engine, send_id: int, now: datetime) -> SendSummary:
    with engine.connect() as conn:
        row = conn.execute(sa.select(*_SEND_COLUMNS).where(sends.c.id == send_id)).first()
        if row is None:
            raise SendError(f"send {send_id}: no such send")
        return _summary(conn, row, now)


def _stored_summary(conn: Connection, send_id: int) -> dict[str, Any] | None:
    row = conn.execute(sa.select(sends.c.summary)
                       .where(sends.c.id == send_id)).first()
    if row is None or not row.summary:
        return None
    return dict(row.summary)


def failures_by_reply(engine: Engine, send_id: int,
                      limit: int = 20) -> list[tuple[str, str, int]]:
    """(state, reply group, count) for failed and deferred rows, largest groups first."""
    c = deliveries.c
    with engine.connect() as conn:
        stored = _stored_summary(conn, send_id)
        if stored is not None:
            return [(str(s), str(g), int(n)) for s, g, n in stored["failures"]][:limit]
        rows = conn.execute(sa.select(c.status, c.last_reply, sa.func.count())
                            .where(c.send_id == send_id,
                                   c.status.in_([outbox.FAILED, outbox.DEFERRED]))
                            .group_by(c.status, c.last_reply)).all()
    groups: Counter[tuple[str, str]] = Counter()
    for status, reply, n in rows:
        groups[(str(status), reply_group(reply or ""))] += int(n)
    ranked = sorted(groups.items(), key=lambda item: (-item[1], item[0]))
    return [(status, group, n) for (status, group), n in ranked[:limit]]


# --- listings ---------------------------------------------------------------------------

def _delivery(row: Any) -> DeliveryRow:
    return DeliveryRow(id=int(row.id), subscriber_id=int(row.subscriber_id),
                       email=str(row.email), status=str(row.status),
                       attempts=int(row.attempts), last_reply=str(row.last_reply or ""),
                       next_attempt_at=row.next_attempt_at, updated_at=row.updated_at,
                       sent_at=row.sent_at)


_ROW_COLUMNS = (deliveries.c.id, deliveries.c.subscriber_id, deliveries.c.email,
                deliveries.c.status, deliveries.c.attempts, deliveries.c.last_reply,
                deliveries.c.next_attempt_at, deliveries.c.updated_at, deliveries.c.sent_at)


SMALL_STATE = 20_000  # fewer matching rows than this: found by index, then sorted


def deliveries_page(engine: Engine, send_id: int, states: Sequence[str] = (),
                    reply_contains: str = "", after_id: int = 0,
                    limit: int = 50) -> list[DeliveryRow]:
    """Keyset-paged rows of a send (ordered by id, ids > after_id), filtered by state and
    by a substring of the last reply; fast on a million-row outbox."""
    c = deliveries.c
    in_states = c.status.in_(list(states)) if states else sa.true()
    with engine.connect() as conn:
        few = states and conn.execute(sa.select(sa.func.count()).select_from(
            sa.select(c.id).where(c.send_id == send_id, in_states, c.id > after_id)
            .limit(SMALL_STATE).subquery())).scalar_one() < SMALL_STATE
        # Rare states come through ix_deliveries_claim; otherwise matches are dense and
        # walking the primary key from after_id finds a page at once ("+ 0" keeps SQLite
        # from sorting the whole send by id instead).
        of_send = c.send_id == send_id if few else c.send_id + 0 == send_id
        query = sa.select(*_ROW_COLUMNS).where(of_send, in_states, c.id > after_id)
        if reply_contains:
            query = query.where(c.last_reply.contains(reply_contains, autoescape=True))
        rows = conn.execute(query.order_by(c.id).limit(limit)).all()
    return [_delivery(row) for row in rows]


def subscriber_deliveries(engine: Engine, subscriber_id: int,
                          limit: int = 100) -> list[tuple[str, DeliveryRow]]:
    """(issue slug, row) for every delivery of one subscriber, newest first."""
    c = deliveries.c
    # Joined from the few sends, each probing uq_delivery_send_subscriber.
    query = (sa.select(sends.c.issue_slug, *_ROW_COLUMNS)
             .select_from(sends.join(deliveries, sa.and_(c.send_id == sends.c.id,
                                                         c.subscriber_id == subscriber_id)))
             .order_by(sends.c.id.desc()).limit(limit))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [(str(row.issue_slug), _delivery(row)) for row in rows]


# --- progress ---------------------------------------------------------------------------

def _epoch(column: Any, dialect: str) -> Any:
    if dialect == "sqlite":
        return sa.cast(sa.func.strftime("%s", column), sa.Integer)
    return sa.func.floor(sa.extract("epoch", column))


def progress_series(engine: Engine, send_id: int,
                    points: int = 60) -> list[tuple[datetime, int]]:
    """Cumulative messages sent over the send's life, at most `points` samples."""
    with engine.connect() as conn:
        stored = _stored_summary(conn, send_id)
        if stored is not None:
            return [(datetime.fromisoformat(at), int(n)) for at, n in stored["progress"]]
        return _progress(conn, send_id, points)


def _progress(conn: Connection, send_id: int, points: int) -> list[tuple[datetime, int]]:
    c = deliveries.c
    sent = sa.and_(c.send_id == send_id, c.status == outbox.SENT, c.sent_at.is_not(None))
    first, last = conn.execute(sa.select(sa.func.min(c.sent_at), sa.func.max(c.sent_at))
                               .where(sent)).one()
    first, last = _aware(first), _aware(last)
    if first is None or last is None:
        return []
    start = int(first.timestamp())
    width = max(1, -(-(int(last.timestamp()) + 1 - start) // max(1, points)))
    bucket = sa.func.floor((_epoch(c.sent_at, conn.dialect.name) - start) / width)
    rows = conn.execute(sa.select(bucket, sa.func.count()).where(sent)
                        .group_by(bucket).order_by(bucket)).all()
    series, total = [], 0
    for index, n in rows:
        total += int(n)
        series.append((first.fromtimestamp(start + (int(index) + 1) * width, first.tzinfo),
                       total))
    return series


# --- retention and reports --------------------------------------------------------------

def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def retention_summary(engine: Engine, send_id: int, now: datetime) -> dict[str, Any]:
    """What `publisher db prune` keeps of a send (`sends.summary`): enough for every view
    here to say the same once its rows and frozen email are gone."""
    summary = send_summary(engine, send_id, now)
    return {"counts": summary.counts, "by_language": summary.by_language,
            "first_sent_at": _iso(summary.first_sent_at),
            "last_sent_at": _iso(summary.last_sent_at), "bounces": summary.bounces,
            "complaints": summary.complaints, "average_rate": summary.average_rate,
            "failures": [list(f) for f in failures_by_reply(engine, send_id, limit=100)],
            "progress": [[at.isoformat(), n] for at, n in progress_series(engine, send_id)]}


def report_data(summary: SendSummary, failures: Sequence[tuple[str, str, int]],
                clicks: Sequence[LinkClicks] = ()) -> dict[str, Any]:
    """`publisher report --json` (and the API's report): one send's figures, limits,
    warnings, and its links' clicks when it counted them."""
    end = summary.last_sent_at
    duration = ((end - summary.first_sent_at).total_seconds()
                if end is not None and summary.first_sent_at is not None else None)
    return {
        "issue": summary.slug, "subject": summary.subject, "state": summary.state,
        "audience": summary.audience,
        "counts": summary.counts, "total": summary.total, "by_language": summary.by_language,
        "created_at": _iso(summary.created_at), "finished_at": _iso(summary.finished_at),
        "first_sent_at": _iso(summary.first_sent_at), "last_sent_at": _iso(end),
        "duration_seconds": duration, "average_rate": summary.average_rate,
        "rate_per_second": summary.rate_per_second, "eta_seconds": summary.eta_seconds,
        "bounces": summary.bounces, "bounce_rate": summary.bounce_rate,
        "complaints": summary.complaints, "complaint_rate": summary.complaint_rate,
        "limits": {"bounce_rate": BOUNCE_RATE_LIMIT, "complaint_rate": COMPLAINT_RATE_LIMIT},
        "warnings": limit_warnings(summary), "pruned": summary.pruned,
        "failures": [{"state": s, "reply": g, "count": n} for s, g, n in failures],
        "clicks": [link.as_json() for link in clicks],
    }


def limit_warnings(summary: SendSummary) -> list[str]:
    """One sentence per provider limit this send crossed."""
    warnings = []
    if summary.bounce_rate > BOUNCE_RATE_LIMIT:
        warnings.append(f"bounce rate {summary.bounce_rate:.2%} is over the "
                        f"{BOUNCE_RATE_LIMIT:.0%} mailbox providers accept")
    if summary.complaint_rate > COMPLAINT_RATE_LIMIT:
        warnings.append(f"complaint rate {summary.complaint_rate:.2%} is over the "
                        f"{COMPLAINT_RATE_LIMIT:.1%} mailbox providers accept")
    return warnings


def sends_in_progress(engine: Engine, now: datetime) -> bool:
    """Whether any sending send has rows queued, in flight, or deferred and due, or has just
    settled its last row and is about to be marked done: what `publisher status --watch`
    waits for, so its last snapshot shows the end."""
    for send_id, _slug in outbox.active_sends(engine):
        tally = outbox.counts(engine, send_id)
        due = outbox.next_due(engine, send_id)
        if tally[outbox.QUEUED] or tally[outbox.SENDING] or (due is not None and due <= now):
            return True
        if not outbox.remaining(tally) and _settled_within(engine, send_id, now, SETTLE_WINDOW):
            return True
    return False


def _settled_within(engine: Engine, send_id: int, now: datetime, window: timedelta) -> bool:
    """Whether a row of the send changed in the last `window` (its drain is finishing)."""
    with engine.connect() as conn:
        last = conn.execute(sa.select(sa.func.max(deliveries.c.updated_at))
                            .where(deliveries.c.send_id == send_id)).scalar()
    moment = _aware(last)
    return moment is not None and now - moment < window
