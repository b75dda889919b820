"""The readership counters' one writer (publisher.db.TABLE_OWNERS): adds a Batch, moves the
access log's high-water mark, records the numbered links of a send and adds their clicks,
and sums old day rows into month rows.

Each write is an upsert that adds to the row of its (period, feed or page), so processes
counting side by side (`serve` workers, an ingest) never lose each other's increments. An
aggregator's row keeps the report made last, whatever order they are written in.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from publisher.analytics.tally import Batch, Report
from publisher.db import (
    feed_aggregators,
    feed_fetches,
    link_clicks,
    links,
    log_ingests,
    page_views,
)

DAY_LENGTH = len("YYYY-MM-DD")


def day_period(day: date) -> str:
    return day.isoformat()


def month_period(period: str) -> str:
    """The month of a day period: 2026-12-07 -> 2026-12."""
    return period[:7]


def _insert(conn: Connection) -> Any:
    return (sqlite if conn.dialect.name == "sqlite" else postgresql).insert


def add(engine: Engine, batch: Batch) -> None:
    """Add a batch of increments, in one transaction."""
    with engine.begin() as conn:
        _add(conn, batch)


def _add(conn: Connection, batch: Batch) -> None:
    fetchers = batch.new_fetchers
    for (day, feed), fetches in batch.fetches.items():
        _add_fetches(conn, day_period(day), feed, fetches, fetchers.get((day, feed), 0))
    for (day, feed, aggregator), report in batch.reports.items():
        _keep_report(conn, day_period(day), feed, aggregator, report)
    for (day, page), views in batch.views.items():
        _add_views(conn, day_period(day), page, views)


def _add_fetches(conn: Connection, period: str, feed: str, fetches: int, fetchers: int) -> None:
    statement = _insert(conn)(feed_fetches).values(period=period, feed=feed, fetches=fetches,
                                                    other_fetchers=fetchers)
    c = feed_fetches.c
    conn.execute(statement.on_conflict_do_update(
        index_elements=["period", "feed"],
        set_={"fetches": c.fetches + statement.excluded.fetches,
              "other_fetchers": c.other_fetchers + statement.excluded.other_fetchers}))


def _keep_report(conn: Connection, period: str, feed: str, aggregator: str,
                 report: Report) -> None:
    statement = _insert(conn)(feed_aggregators).values(
        period=period, feed=feed, aggregator=aggregator, subscribers=report.subscribers,
        reported_at=report.at)
    conn.execute(statement.on_conflict_do_update(
        index_elements=["period", "feed", "aggregator"],
        set_={"subscribers": statement.excluded.subscribers,
              "reported_at": statement.excluded.reported_at},
        where=feed_aggregators.c.reported_at <= statement.excluded.reported_at))


def _add_views(conn: Connection, period: str, page: str, views: int) -> None:
    statement = _insert(conn)(page_views).values(period=period, page=page, views=views)
    conn.execute(statement.on_conflict_do_update(
        index_elements=["period", "page"],
        set_={"views": page_views.c.views + statement.excluded.views}))


def record_links(conn: Connection, send_id: int, urls: list[str]) -> None:
    """Number a send's links 1, 2, … in the send's own transaction (link n: urls[n - 1])."""
    if urls:
        conn.execute(links.insert(), [{"send_id": send_id, "number": number, "url": url}
                                      for number, url in enumerate(urls, start=1)])


@dataclass(frozen=True)
class LinkCount:
    """Clicks and prefetches of one link of a send on one day, to add."""

    day: date
    send_id: int
    link: int
    clicks: int
    prefetches: int


def add_clicks(engine: Engine, counts: list[LinkCount]) -> None:
    """Add clicks and prefetches, in one transaction."""
    with engine.begin() as conn:
        for count in counts:
            statement = _insert(conn)(link_clicks).values(
                period=day_period(count.day), send_id=count.send_id, link=count.link,
                clicks=count.clicks, prefetches=count.prefetches)
            c = link_clicks.c
            conn.execute(statement.on_conflict_do_update(
                index_elements=["period", "send_id", "link"],
                set_={"clicks": c.clicks + statement.excluded.clicks,
                      "prefetches": c.prefetches + statement.excluded.prefetches}))


@dataclass(frozen=True)
class IngestMark:
    """How far a log source has been counted: the time of its newest line counted, and how
    many lines of that second were."""

    last_at: datetime
    lines_at_last: int


def ingest_mark(engine: Engine, source: str) -> IngestMark | None:
    """How far `source` has been counted; None before its first ingest."""
    with engine.connect() as conn:
        found = conn.execute(sa.select(log_ingests.c.last_at, log_ingests.c.lines_at_last)
                             .where(log_ingests.c.source == source)).first()
    return None if found is None else IngestMark(found.last_at, int(found.lines_at_last))


def add_ingested(engine: Engine, batch: Batch, source: str, mark: IngestMark) -> None:
    """Add a log's batch and move its mark, in one transaction: a log is counted together
    with the mark that stops it being counted again."""
    with engine.begin() as conn:
        _add(conn, batch)
        statement = _insert(conn)(log_ingests).values(source=source, last_at=mark.last_at,
                                                      lines_at_last=mark.lines_at_last)
        conn.execute(statement.on_conflict_do_update(
            index_elements=["source"],
            set_={"last_at": statement.excluded.last_at,
                  "lines_at_last": statement.excluded.lines_at_last}))


@dataclass(frozen=True)
class Pruned:
    """Day rows summed into month rows by one prune."""

    fetch_rows: int
    aggregator_rows: int
    view_rows: int
    click_rows: int

    @property
    def rows(self) -> int:
        return self.fetch_rows + self.aggregator_rows + self.view_rows + self.click_rows


def _old_days(table: sa.Table, before: date) -> sa.ColumnElement[bool]:
    return sa.and_(sa.func.length(table.c.period) == DAY_LENGTH,
                   table.c.period < day_period(before))


def prunable(engine: Engine, before: date) -> Pruned:
    """The day rows older than `before` that a prune would sum into months."""
    with engine.connect() as conn:
        counts = [conn.execute(sa.select(sa.func.count()).select_from(table)
                               .where(_old_days(table, before))).scalar_one()
                  for table in (feed_fetches, feed_aggregators, page_views, link_clicks)]
    return Pruned(*(int(count) for count in counts))


def prune(engine: Engine, before: date) -> Pruned:
    """Sum the day rows older than `before` into their months' rows and delete them, in one
    transaction: fetches, other fetchers (fetcher-days), views, clicks and prefetches are
    added up, an aggregator's month keeps its latest report. Totals are the same before and
    after."""
    with engine.begin() as conn:
        fetches = _sum_months(conn, feed_fetches, ("feed",), ("fetches", "other_fetchers"),
                              before)
        views = _sum_months(conn, page_views, ("page",), ("views",), before)
        reports = _latest_into_months(conn, before)
        clicks = _sum_months(conn, link_clicks, ("send_id", "link"), ("clicks", "prefetches"),
                             before)
    return Pruned(fetches, reports, views, clicks)


def _sum_months(conn: Connection, table: sa.Table, keys: tuple[str, ...],
                sums: tuple[str, ...], before: date) -> int:
    old = _old_days(table, before)
    rows = conn.execute(sa.select(table).where(old)).mappings().all()
    months: dict[tuple[str, ...], dict[str, int]] = defaultdict(lambda: dict.fromkeys(sums, 0))
    for row in rows:
        totals = months[(month_period(row["period"]), *(row[k] for k in keys))]
        for name in sums:
            totals[name] += int(row[name])
    for (period, *key_values), totals in months.items():
        statement = _insert(conn)(table).values(period=period, **dict(zip(keys, key_values,
                                                                          strict=True)),
                                                **totals)
        conn.execute(statement.on_conflict_do_update(
            index_elements=["period", *keys],
            set_={name: table.c[name] + statement.excluded[name] for name in sums}))
    conn.execute(sa.delete(table).where(old))
    return len(rows)


def _latest_into_months(conn: Connection, before: date) -> int:
    old = _old_days(feed_aggregators, before)
    rows = conn.execute(sa.select(feed_aggregators).where(old)
                        .order_by(feed_aggregators.c.reported_at)).all()
    for row in rows:
        _keep_report(conn, month_period(row.period), row.feed, row.aggregator,
                     Report(int(row.subscribers), row.reported_at))
    conn.execute(sa.delete(feed_aggregators).where(old))
    return len(rows)
