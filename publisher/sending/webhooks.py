"""Webhook delivery: claims, signed POSTs, retries, replays and the status of each endpoint.

The rows come from publisher.events (one per event and endpoint, written with the change);
this module is the only other writer of `webhook_deliveries`, and keeps the outbox's rules:
a claim is a lease (claimed_by, claimed_at; PostgreSQL takes rows with FOR UPDATE SKIP
LOCKED), so a process killed mid-delivery leaves rows that are claimed again once the lease
is over: delivery is at least once, and the receiver de-duplicates by `Publisher-Event-Id`.
Order holds per subscriber (or send) per endpoint: a row is not claimed while an earlier
row of its key to that endpoint is pending. A reply of 2xx delivers; a timeout, a refused
connection, 5xx, 408 and 429 (after its Retry-After) are retried with doubling delays until
`retry_hours` after the row was made, then failed; any other reply fails the row at once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import socket
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from functools import partial
from importlib.metadata import version
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from publisher import events
from publisher.config import Config, WebhookConfig, webhook_secrets
from publisher.db import webhook_deliveries, webhook_events
from publisher.events import DELIVERED, FAILED, PENDING
from publisher.tls import client_context

USER_AGENT = f"publisher-webhooks/{version('publisher')}"
BATCH = 16  # posts in flight at a time per endpoint
REFILL = BATCH // 2  # settle and claim again once this many have come back
REPLY_LIMIT = 1000  # characters of a reply kept in last_reply


@dataclass(frozen=True)
class Claimed:
    """A delivery row in hand, with its event."""

    id: int
    event_id: int
    type: str
    at: datetime
    data: dict[str, Any]
    created_at: datetime
    attempts: int


@dataclass(frozen=True)
class Outcome:
    """What one POST came to: delivered, failed, or pending (to be retried, not sooner
    than `retry_after` seconds when the receiver said so)."""

    delivery_id: int
    state: str
    reply: str
    retry_after: float | None = None  # seconds the receiver asked for (429, 503)


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def lease_of(webhook: WebhookConfig) -> timedelta:
    """How long a claim lasts: two timeouts and a margin, so a live delivery keeps it."""
    return timedelta(seconds=2 * webhook.timeout_seconds + 5)


def body_of(claimed: Claimed) -> bytes:
    """The JSON body: id, type, at and data (the same bytes on every retry)."""
    document = {"id": str(claimed.event_id), "type": claimed.type,
                "at": claimed.at.isoformat().replace("+00:00", "Z"), "data": claimed.data}
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()


def signature(secrets: Sequence[str], timestamp: int, body: bytes) -> str:
    """`t=<unix time>,v1=<hex HMAC-SHA256 of "t." + body>`, one v1 per secret."""
    signed = f"{timestamp}.".encode() + body
    return ",".join([f"t={timestamp}"] + [
        "v1=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        for secret in secrets])


def headers_of(claimed: Claimed, secrets: Sequence[str], timestamp: int,
               body: bytes) -> dict[str, str]:
    return {"Content-Type": "application/json", "User-Agent": USER_AGENT,
            "Publisher-Event-Id": str(claimed.event_id),
            "Publisher-Signature": signature(secrets, timestamp, body)}


def claim(engine: Engine, url: str, worker: str, now: datetime, lease: timedelta,
          limit: int = BATCH) -> list[Claimed]:
    """Take up to `limit` due rows of one endpoint, each the earliest pending of its key."""
    d, earlier = webhook_deliveries.c, webhook_deliveries.alias("earlier")
    waiting = sa.exists().where(earlier.c.url == d.url, earlier.c.order_key == d.order_key,
                                earlier.c.status == PENDING, earlier.c.id < d.id)
    due = (sa.select(d.id).where(
        d.status == PENDING, d.url == url, ~waiting,
        sa.or_(d.next_attempt_at.is_(None), d.next_attempt_at <= now),
        sa.or_(d.claimed_at.is_(None), d.claimed_at < now - lease))
        .order_by(d.id).limit(limit))
    if engine.dialect.name == "postgresql":
        due = due.with_for_update(of=webhook_deliveries, skip_locked=True)
    with engine.begin() as conn:
        ids = [int(i) for i in conn.execute(due).scalars()]
        if not ids:
            return []
        conn.execute(webhook_deliveries.update().where(d.id.in_(ids))
                     .values(claimed_by=worker, claimed_at=now, updated_at=now))
        return _claimed_rows(conn, ids)


def _claimed_rows(conn: Connection, ids: list[int]) -> list[Claimed]:
    d, e = webhook_deliveries.c, webhook_events.c
    rows = conn.execute(sa.select(d.id, d.event_id, e.type, e.at, e.data, d.created_at,
                                  d.attempts)
                        .join_from(webhook_deliveries, webhook_events, d.event_id == e.id)
                        .where(d.id.in_(ids)).order_by(d.id)).all()
    return [Claimed(int(r.id), int(r.event_id), str(r.type), r.at, dict(r.data),
                    r.created_at, int(r.attempts)) for r in rows]


def post(client: httpx.Client, url: str, claimed: Claimed, *, secrets: Sequence[str],
         now: datetime) -> Outcome:
    """One signed POST; never raises for what the network or the receiver does."""
    body = body_of(claimed)
    try:
        response = client.post(url, content=body,
                               headers=headers_of(claimed, secrets, int(now.timestamp()), body))
    except httpx.TimeoutException as exc:
        return Outcome(claimed.id, PENDING, f"timeout: {type(exc).__name__}")
    except httpx.HTTPError as exc:
        return Outcome(claimed.id, PENDING, f"no reply: {type(exc).__name__}: {exc}")
    return outcome_of(claimed.id, response.status_code, response.text,
                      response.headers.get("Retry-After"), now)


def outcome_of(delivery_id: int, status: int, text: str, retry_after: str | None,
               now: datetime) -> Outcome:
    """2xx: delivered; 5xx, 408, 429: retried (after Retry-After); other replies: failed."""
    reply = f"{status} {' '.join(text.split())}"[:REPLY_LIMIT]
    if 200 <= status < 300:
        return Outcome(delivery_id, DELIVERED, reply)
    if status >= 500 or status in (408, 429):
        return Outcome(delivery_id, PENDING, reply, retry_after_seconds(retry_after, now))
    return Outcome(delivery_id, FAILED, reply)


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds: a number of seconds or an HTTP date; None if absent or bad."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        return max(0.0, (parsedate_to_datetime(value) - now).total_seconds())
    except (TypeError, ValueError):
        return None


def next_attempt(webhook: WebhookConfig, attempts: int, retry_after: float | None,
                 created_at: datetime, now: datetime) -> datetime | None:
    """When to try again after `attempts` failed tries; None: past `retry_hours`, give up."""
    delay = min(webhook.backoff_base_seconds * 2 ** min(max(0, attempts - 1), 30),
                webhook.backoff_max_seconds)
    if retry_after is not None:
        delay = max(delay, retry_after)
    at = now + timedelta(seconds=delay)
    return None if at > created_at + timedelta(hours=webhook.retry_hours) else at


def settle(engine: Engine, webhook: WebhookConfig, batch: Sequence[Claimed],
           outcomes: Sequence[Outcome], now: datetime) -> None:
    """Write each outcome: delivered (one statement for all), failed, or pending again
    with its next attempt (past `retry_hours`: failed)."""
    d = webhook_deliveries.c
    by_id = {claimed.id: claimed for claimed in batch}
    settled: dict[str, Any] = dict(attempts=d.attempts + 1, claimed_by=None, claimed_at=None,
                                   updated_at=now)
    delivered = [o for o in outcomes if o.state == DELIVERED]
    with engine.begin() as conn:
        if delivered:
            conn.execute(webhook_deliveries.update()
                         .where(d.id.in_([o.delivery_id for o in delivered]),
                                d.status == PENDING)
                         .values(status=DELIVERED, delivered_at=now, next_attempt_at=None,
                                 last_reply=sa.case({o.delivery_id: o.reply for o in delivered},
                                                    value=d.id), **settled))
        for outcome in (o for o in outcomes if o.state != DELIVERED):
            retry_at = None if outcome.state == FAILED else next_attempt(
                webhook, by_id[outcome.delivery_id].attempts + 1, outcome.retry_after,
                by_id[outcome.delivery_id].created_at, now)
            conn.execute(webhook_deliveries.update()
                         .where(d.id == outcome.delivery_id, d.status == PENDING)
                         .values(status=PENDING if retry_at else FAILED,
                                 next_attempt_at=retry_at, last_reply=outcome.reply, **settled))


@dataclass
class Deliverer:
    """Delivers every configured endpoint's due rows, each POST under its own timeout."""

    engine: Engine
    config: Config
    clock: Callable[[], datetime]
    worker: str = ""
    secrets: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.worker = self.worker or worker_id()
        self.secrets = {w.url: webhook_secrets(w) for w in self.config.settings.webhooks}

    def sync(self) -> None:
        """Bring the stored endpoints in line with the config (publisher.events)."""
        events.sync_configured(self.engine, self.config.webhook_endpoints, self.clock())

    def run(self, deadline: float | None, monotonic: Callable[[], float]) -> tuple[int, bool]:
        """Deliver until nothing is due or `deadline` (monotonic) passes; (rows settled,
        whether it ran out of time with rows perhaps still due). Every endpoint has its
        own window of BATCH posts in flight, all endpoints at once: a slow reply holds its
        own slot only, and a slow endpoint no other endpoint's."""
        settled, late = 0, False
        hooks = self.config.settings.webhooks
        with ExitStack() as stack:
            pool = stack.enter_context(ThreadPoolExecutor(max_workers=BATCH * max(1, len(hooks))))
            windows = [_Window(w, stack.enter_context(httpx.Client(
                verify=client_context(), timeout=httpx.Timeout(w.timeout_seconds),
                follow_redirects=False)))
                for w in hooks]
            while True:
                late = late or (deadline is not None and monotonic() >= deadline)
                for window in windows:
                    settled += self._turn(pool, window, late)
                flying = [future for window in windows for future in window.flying]
                if not flying:
                    return settled, late
                wait(flying, return_when=FIRST_COMPLETED)
                for window in windows:
                    window.collect()

    def _turn(self, pool: ThreadPoolExecutor, window: _Window, late: bool) -> int:
        """Once half its window has come back (or all of it): settle those rows, then claim
        as many as there are free slots, unless time is up or nothing more can be due.
        A claim takes only the earliest pending row of each key, and an unsettled row
        stays pending, so a key never has two rows in flight: order holds."""
        if len(window.done) < REFILL and window.flying:
            return 0
        count = len(window.done)
        if window.done:
            claimed, outcomes = zip(*window.done, strict=True)
            settle(self.engine, window.webhook, claimed, outcomes, self.clock())
            window.done.clear()
            window.more = True  # a settled row may let the next of its key go
        free = BATCH - len(window.flying)
        if late or not window.more or free < REFILL:
            return count
        now = self.clock()
        batch = claim(self.engine, window.webhook.url, self.worker, now,
                      lease_of(window.webhook), free)
        window.more = len(batch) == free
        send = partial(post, window.client, window.webhook.url,
                       secrets=self.secrets[window.webhook.url], now=now)
        window.flying.update({pool.submit(send, row): row for row in batch})
        return count


@dataclass
class _Window:
    """One endpoint's posts in flight, those come back and not yet settled, and whether
    its last claim left rows behind (or a row of it settled since)."""

    webhook: WebhookConfig
    client: httpx.Client
    flying: dict[Future[Outcome], Claimed] = field(default_factory=dict)
    done: list[tuple[Claimed, Outcome]] = field(default_factory=list)
    more: bool = True

    def collect(self) -> None:
        """Move the posts that came back from `flying` to `done`."""
        for future in [f for f in self.flying if f.done()]:
            self.done.append((self.flying.pop(future), future.result()))


AGE = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd])$")
AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def since_moment(text: str, now: datetime) -> datetime:
    """`2h`, `30m`, `7d`, `90s` before `now`, or an ISO time with a zone; else ValueError."""
    age = AGE.match(text.strip())
    if age:
        return now - timedelta(seconds=float(age[1]) * AGE_UNITS[age[2]])
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r}: give an ISO time with its zone or an age like 2h") from None
    if moment.tzinfo is None:
        raise ValueError(f"{text!r}: give the zone too (2026-05-01T09:00Z)")
    return moment


def replay(engine: Engine, since: datetime, now: datetime, url: str | None,
           webhooks: Sequence[WebhookConfig]) -> int:
    """Deliver again every event since `since` to each configured endpoint that wants its
    type (or only `url`): new rows, the same event ids. Returns how many rows."""
    chosen = [w for w in webhooks if url is None or w.url == url]
    e = webhook_events.c
    with engine.begin() as conn:
        rows = conn.execute(sa.select(e.id, e.type, e.order_key).where(e.at >= since)
                            .order_by(e.id)).all()
        values = [dict(event_id=int(r.id), url=w.url, order_key=r.order_key, status=PENDING,
                       attempts=0, created_at=now, updated_at=now)
                  for r in rows for w in chosen if r.type in w.events]
        if values:
            conn.execute(webhook_deliveries.insert(), values)
    return len(values)


@dataclass(frozen=True)
class EndpointStatus:
    """One endpoint's deliveries, for `webhooks status` and /metrics."""

    url: str
    delivered: int
    pending: int
    failed: int
    oldest_undelivered_seconds: float  # 0 when nothing is pending
    last_failure: str | None  # the reply of the latest row that failed

    def as_json(self) -> dict[str, Any]:
        return {"url": self.url, "delivered": self.delivered, "pending": self.pending,
                "failed": self.failed,
                "oldest_undelivered_seconds": round(self.oldest_undelivered_seconds, 3),
                "last_failure": self.last_failure}


def status(engine: Engine, urls: Sequence[str], now: datetime) -> list[EndpointStatus]:
    """Each endpoint's counts (configured ones first, then any that still has rows)."""
    d = webhook_deliveries.c
    with engine.connect() as conn:
        counts = conn.execute(sa.select(d.url, d.status, sa.func.count(), sa.func.min(
            d.created_at)).group_by(d.url, d.status)).all()
        failures = {str(url): str(reply) for url, reply in conn.execute(
            sa.select(d.url, d.last_reply).where(d.status == FAILED)
            .where(d.id.in_(sa.select(sa.func.max(d.id)).where(d.status == FAILED)
                            .group_by(d.url))))}
    tally: dict[str, dict[str, int]] = {url: {} for url in urls}
    oldest: dict[str, datetime] = {}
    for url, state, count, first in counts:
        tally.setdefault(str(url), {})[str(state)] = int(count)
        if state == PENDING and first is not None:
            oldest[str(url)] = first
    return [EndpointStatus(url, t.get(DELIVERED, 0), t.get(PENDING, 0), t.get(FAILED, 0),
                           max(0.0, (now - oldest[url]).total_seconds()) if url in oldest
                           else 0.0, failures.get(url))
            for url, t in tally.items()]


def settled_before(before: datetime) -> sa.ColumnElement[bool]:
    """Deliveries delivered or failed before `before`: what retention may delete."""
    d = webhook_deliveries.c
    return sa.and_(d.status.in_([DELIVERED, FAILED]), d.updated_at < before)


def delete_settled(engine: Engine, before: datetime, chunk: int) -> int:
    """Delete up to `chunk` deliveries settled before `before`, oldest first (never a
    pending one); how many went."""
    d = webhook_deliveries.c
    ids = (sa.select(d.id).where(settled_before(before)).order_by(d.id).limit(chunk))
    with engine.begin() as conn:
        return int(conn.execute(sa.delete(webhook_deliveries).where(
            d.id.in_(ids.scalar_subquery()), d.status != PENDING)).rowcount)


@dataclass(frozen=True)
class FailedDelivery:
    """A delivery that failed, with the receiver's (or the network's) last reply."""

    id: int
    url: str
    event_id: int
    type: str
    attempts: int
    reply: str
    updated_at: datetime


def recent_failures(engine: Engine, limit: int) -> list[FailedDelivery]:
    """The `limit` deliveries that failed last, newest first."""
    d, e = webhook_deliveries.c, webhook_events.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(d.id, d.url, d.event_id, e.type, d.attempts, d.last_reply,
                                      d.updated_at)
                            .join_from(webhook_deliveries, webhook_events, d.event_id == e.id)
                            .where(d.status == FAILED)
                            .order_by(d.updated_at.desc(), d.id.desc()).limit(limit)).all()
    return [FailedDelivery(int(r.id), str(r.url), int(r.event_id), str(r.type), int(r.attempts),
                           str(r.last_reply or ""), r.updated_at) for r in rows]
