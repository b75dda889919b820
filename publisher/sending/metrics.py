"""Prometheus /metrics for `publisher run` and its workers: what the outbox and the subscriber
store hold, read at scrape time, and when this process's scheduler last ticked.

The rule: a scrape costs a few GROUP BY queries and never fails. The collector reads the
database on each scrape (no cache, no background thread); a database that cannot be read
gives `publisher_database_up 0` and no other database figure, never an error page. Reading
is all it does: the figures come from the outbox's tables (rows present, plus the summaries
`db prune` keeps), from the webhook deliveries through `webhooks.status`, from the
subscriber store through `activity.totals`, and from the readership and click counters
through `analytics.figures.fetch_totals` and `click_totals`. The HTTP server is
prometheus_client's, in its own daemon thread, on the address `[metrics] listen` names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from wsgiref.simple_server import WSGIServer

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from publisher.analytics import figures
from publisher.db import deliveries, sends
from publisher.sending import outbox, webhooks
from publisher.subscribers import activity

REPLY_CLASSES = ("2xx", "4xx", "5xx", "none")  # "none": no reply came (timeout, dropped)


@dataclass
class ProcessState:
    """What this process knows and the database does not: its scheduler's last tick."""

    last_tick: float | None = None  # Unix time

    def ticked(self, now: datetime) -> None:
        self.last_tick = now.timestamp()


PROCESS = ProcessState()  # the daemon records here; the collector of this process reads it


@dataclass(frozen=True)
class Snapshot:
    """The database's figures at one scrape."""

    deliveries: dict[str, int]  # rows per outbox state, every send
    replies: dict[str, int]  # rows per class of their last SMTP reply
    sent_total: int  # sent rows, plus the sent counts of pruned sends
    queue_depth: int  # rows of active sends waiting to be claimed now
    oldest_due_age: float  # seconds the longest-waiting of those has waited; 0 when none
    subscribers: dict[str, int] = field(default_factory=dict)  # per status
    bounces: int = 0  # bounce events ever
    complaints: int = 0  # complaint events ever
    webhooks: list[webhooks.EndpointStatus] = field(default_factory=list)  # per endpoint
    feed_fetches: dict[str, int] = field(default_factory=dict)  # per feed path, ever
    link_clicks: tuple[int, int] = (0, 0)  # clicks and prefetches of emails' links, ever


def reply_class(first_character: str | None) -> str:
    """'2', '4', '5' (the reply code's first digit) -> '2xx'…; anything else -> 'none'."""
    return f"{first_character}xx" if first_character in ("2", "4", "5") else "none"


def read_snapshot(engine: Engine, now: datetime) -> Snapshot:
    """Two queries over the outbox, one over the sends, and the subscriber store's totals."""
    c = deliveries.c
    by_state = dict.fromkeys(outbox.STATES, 0)
    replies = dict.fromkeys(REPLY_CLASSES, 0)
    with engine.connect() as conn:
        # The 1s inline, not bound: PostgreSQL matches the GROUP BY to the SELECT by text.
        one: sa.ColumnElement[int] = sa.literal_column("1")
        first = sa.func.substr(c.last_reply, one, one)
        rows = conn.execute(sa.select(c.status, first, sa.func.count())
                            .group_by(c.status, first)).all()
        for state, first, count in rows:
            by_state[str(state)] = by_state.get(str(state), 0) + int(count)
            replies[reply_class(first)] += int(count)
        depth, oldest = _due(conn, now)
        pruned = conn.execute(sa.select(sends.c.summary)
                              .where(sends.c.pruned_at.is_not(None))).scalars().all()
    # TODO(retention): pruned sends' sent counts come from the summary `db prune` stores
    # (reports.retention_summary: {"counts": {...}}); a reports helper would own that shape.
    pruned_sent = sum(int((summary or {}).get("counts", {}).get(outbox.SENT, 0))
                      for summary in pruned)
    totals = activity.totals(engine)
    hooks = webhooks.status(engine, [], now)
    return Snapshot(webhooks=hooks, feed_fetches=figures.fetch_totals(engine),
        link_clicks=figures.click_totals(engine),
        deliveries=by_state, replies=replies, sent_total=by_state[outbox.SENT] + pruned_sent,
        queue_depth=depth, oldest_due_age=oldest, bounces=totals.pop("bounce_events", 0),
        complaints=totals.pop("complaint_events", 0), subscribers=totals)


def _due(conn: sa.Connection, now: datetime) -> tuple[int, float]:
    """Rows of active sends a worker may claim now (queued, and deferred ones whose time has
    come), and how long the oldest has waited: a queued row since it was queued, a deferred
    one since its retry time."""
    c = deliveries.c
    due = sa.or_(c.status == outbox.QUEUED,
                 sa.and_(c.status == outbox.DEFERRED, c.next_attempt_at <= now))
    rows = conn.execute(
        sa.select(c.status, sa.func.count(), sa.func.min(c.updated_at),
                  sa.func.min(c.next_attempt_at))
        .select_from(deliveries.join(sends, sends.c.id == c.send_id))
        .where(sends.c.status == outbox.SEND_ACTIVE, due).group_by(c.status)).all()
    depth, since = 0, []
    for state, count, oldest_update, oldest_retry in rows:
        depth += int(count)
        moment = oldest_update if state == outbox.QUEUED else oldest_retry
        if moment is not None:
            since.append(moment)
    age = max(0.0, (now - min(since)).total_seconds()) if since else 0.0
    return depth, age


def families(snapshot: Snapshot | None, process: ProcessState) -> list[Metric]:
    """The metrics of one scrape; `snapshot` None when the database could not be read."""
    found: list[Metric] = [_gauge("publisher_database_up",
                                  "1 if this scrape could read the database, else 0",
                                  1 if snapshot is not None else 0)]
    if process.last_tick is not None:
        found.append(_gauge("publisher_scheduler_last_tick_timestamp_seconds",
                            "When this process's daemon last began a tick (Unix time)",
                            process.last_tick))
    if snapshot is None:
        return found
    found += [
        _labelled("publisher_deliveries", "Outbox rows per state, every send", "state",
                  snapshot.deliveries),
        _labelled("publisher_smtp_replies", "Outbox rows per class of their last SMTP "
                  "reply (none: no reply came, or not tried yet)", "class", snapshot.replies),
        CounterMetricFamily("publisher_messages_sent", "Messages accepted by the SMTP server, "
                            "every send, pruned ones included", value=snapshot.sent_total),
        _gauge("publisher_queue_depth", "Rows of active sends that a worker may claim now "
               "(queued, and deferred whose retry time has come)", snapshot.queue_depth),
        _gauge("publisher_oldest_due_age_seconds", "How long the longest-waiting claimable "
               "row has waited (0 when none)", snapshot.oldest_due_age),
        _labelled("publisher_subscribers", "Subscribers per status", "status",
                  snapshot.subscribers),
        CounterMetricFamily("publisher_bounces", "Hard bounces recorded against "
                            "subscribers, ever", value=snapshot.bounces),
        CounterMetricFamily("publisher_complaints", "Spam complaints recorded, ever",
                            value=snapshot.complaints),
        *webhook_families(snapshot.webhooks),
        feed_family(snapshot.feed_fetches),
        CounterMetricFamily("publisher_link_clicks", "Clicks on emails' counted links "
                            "(prefetches apart), ever", value=snapshot.link_clicks[0]),
        CounterMetricFamily("publisher_link_prefetches", "Fetches of emails' counted links "
                            "by link scanners during a send's delivery burst, ever",
                            value=snapshot.link_clicks[1]),
    ]
    return found


def webhook_families(endpoints: list[webhooks.EndpointStatus]) -> list[Metric]:
    """Webhook deliveries by endpoint and state, failures, and the oldest undelivered age."""
    rows = GaugeMetricFamily("publisher_webhook_deliveries", "Webhook delivery rows per "
                             "endpoint and state", labels=["endpoint", "state"])
    failed = GaugeMetricFamily("publisher_webhook_failures", "Webhook deliveries given up "
                               "(a 4xx reply, or retried for retry_hours)", labels=["endpoint"])
    oldest = GaugeMetricFamily("publisher_webhook_oldest_undelivered_age_seconds", "How long "
                               "the oldest pending webhook delivery has waited (0 when none)",
                               labels=["endpoint"])
    for endpoint in endpoints:
        for state, count in (("delivered", endpoint.delivered), ("pending", endpoint.pending),
                             ("failed", endpoint.failed)):
            rows.add_metric([endpoint.url, state], count)
        failed.add_metric([endpoint.url], endpoint.failed)
        oldest.add_metric([endpoint.url], endpoint.oldest_undelivered_seconds)
    return [rows, failed, oldest]


def feed_family(fetches: dict[str, int]) -> CounterMetricFamily:
    """Feed fetches counted by `serve` and `analytics ingest`, per feed, ever."""
    family = CounterMetricFamily("publisher_feed_fetches", "Feed fetches counted (serve and "
                                 "analytics ingest), per feed path, ever", labels=["feed"])
    for feed, count in sorted(fetches.items()):
        family.add_metric([feed], count)
    return family


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


def _labelled(name: str, documentation: str, label: str,
              values: dict[str, int]) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, documentation, labels=[label])
    for key, value in values.items():
        gauge.add_metric([key], value)
    return gauge


class DatabaseCollector(Collector):
    """Reads the database at each scrape; a failure is a figure, not an error."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime],
                 process: ProcessState = PROCESS) -> None:
        self.engine, self.clock, self.process = engine, clock, process

    def collect(self) -> Iterable[Metric]:
        try:
            snapshot: Snapshot | None = read_snapshot(self.engine, self.clock())
        except sa.exc.SQLAlchemyError:
            snapshot = None  # down, locked or not migrated yet: publisher_database_up 0
        return families(snapshot, self.process)


def serve(host: str, port: int, engine: Engine, clock: Callable[[], datetime],
          process: ProcessState = PROCESS) -> WSGIServer:
    """Start serving /metrics on host:port in a daemon thread; `shutdown()` stops it.
    Raises OSError when the address is taken (another worker on the same port)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(engine, clock, process))
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server
