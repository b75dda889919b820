"""The readership and click counters read back, for `publisher analytics`, reports, the
console and /metrics. Reads only (publisher.analytics.counters writes)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from publisher.analytics.counters import DAY_LENGTH
from publisher.db import feed_aggregators, feed_fetches, link_clicks, links, page_views, sends
from publisher.urls import issue_path


@dataclass(frozen=True)
class Period:
    """One day ('YYYY-MM-DD') or month ('YYYY-MM') of a feed."""

    period: str
    fetches: int
    other_fetchers: int


@dataclass(frozen=True)
class AggregatorCount:
    """An aggregator's latest report for a feed, and the period it was made in."""

    aggregator: str
    subscribers: int
    period: str


@dataclass
class FeedReadership:
    """A feed's aggregators (latest count each) and its periods, oldest first."""

    feed: str
    aggregators: list[AggregatorCount] = field(default_factory=list)
    periods: list[Period] = field(default_factory=list)

    @property
    def aggregator_subscribers(self) -> int:
        return sum(a.subscribers for a in self.aggregators)


@dataclass(frozen=True)
class PageViews:
    """An issue page's views: in all, and per period oldest first."""

    page: str
    views: int
    periods: list[tuple[str, int]]


def feed_readership(engine: Engine) -> list[FeedReadership]:
    """Every feed counted, by path."""
    feeds: dict[str, FeedReadership] = {}
    with engine.connect() as conn:
        for row in conn.execute(sa.select(feed_fetches).order_by(feed_fetches.c.period)):
            found = feeds.setdefault(row.feed, FeedReadership(row.feed))
            found.periods.append(Period(row.period, int(row.fetches), int(row.other_fetchers)))
        latest: dict[tuple[str, str], AggregatorCount] = {}
        for row in conn.execute(sa.select(feed_aggregators)
                                .order_by(feed_aggregators.c.reported_at)):
            latest[(row.feed, row.aggregator)] = AggregatorCount(
                row.aggregator, int(row.subscribers), row.period)
    for (feed, _name), count in sorted(latest.items()):
        feeds.setdefault(feed, FeedReadership(feed)).aggregators.append(count)
    return [feeds[feed] for feed in sorted(feeds)]


@dataclass(frozen=True)
class FeedDay:
    """Every feed's fetches on one day, and its other fetchers summed over the feeds (a
    fetcher of two feeds counts twice: the counts are per feed and nothing ties them)."""

    day: date
    fetches: int
    other_fetchers: int


def feed_days(engine: Engine, days: int, today: date) -> list[FeedDay]:
    """One entry per day for the `days` days ending `today` (inclusive), oldest first; a
    day nothing was counted is zero (month rows, older than keep_days, are left out)."""
    first = today - timedelta(days=days - 1)
    c = feed_fetches.c
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(c.period, sa.func.sum(c.fetches), sa.func.sum(c.other_fetchers))
            .where(c.period >= first.isoformat(), c.period <= today.isoformat(),
                   sa.func.length(c.period) == DAY_LENGTH)
            .group_by(c.period)).all()
    found = {str(period): (int(fetches), int(others)) for period, fetches, others in rows}
    return [FeedDay(day, *found.get(day.isoformat(), (0, 0)))
            for day in (first + timedelta(days=n) for n in range(days))]


def issue_views(engine: Engine) -> list[PageViews]:
    """Every issue page viewed, most viewed first."""
    periods: dict[str, list[tuple[str, int]]] = defaultdict(list)
    with engine.connect() as conn:
        for row in conn.execute(sa.select(page_views).order_by(page_views.c.period)):
            periods[row.page].append((row.period, int(row.views)))
    found = [PageViews(page, sum(v for _, v in days), days) for page, days in periods.items()]
    return sorted(found, key=lambda p: (-p.views, p.page))


def views_of_issue(engine: Engine, slug: str) -> int:
    """Views of an issue's page, in every language (`/issues/<slug>/`, `/en/issues/<slug>/`)."""
    page = page_views.c.page
    path = issue_path(slug)
    with engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(page_views.c.views), 0))
                             .where(sa.or_(page == path, page.like(f"%{path}")))).scalar_one()
    return int(total)


def fetch_totals(engine: Engine) -> dict[str, int]:
    """Fetches of each feed ever counted (month rows included), for Prometheus."""
    c = feed_fetches.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(c.feed, sa.func.sum(c.fetches)).group_by(c.feed)).all()
    return {str(feed): int(total) for feed, total in rows}


def send_links(engine: Engine, send_id: int) -> dict[int, str]:
    """A send's numbered links (none: its clicks are not counted)."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(links.c.number, links.c.url)
                            .where(links.c.send_id == send_id)).all()
    return {int(number): str(url) for number, url in rows}


def link_target(engine: Engine, send_id: int, number: int) -> str | None:
    """Where link `number` of a send points; None for a link the send does not have."""
    with engine.connect() as conn:
        url = conn.execute(sa.select(links.c.url).where(links.c.send_id == send_id,
                                                        links.c.number == number)).scalar()
    return None if url is None else str(url)


@dataclass(frozen=True)
class LinkClicks:
    """A link of a send and its clicks and prefetches in all (months included)."""

    number: int
    url: str
    clicks: int
    prefetches: int

    def as_json(self) -> dict[str, object]:
        return {"url": self.url, "clicks": self.clicks, "prefetches": self.prefetches}


def _click_sums() -> sa.Select[tuple[int, int, int, int]]:
    c = link_clicks.c
    return (sa.select(c.send_id, c.link, sa.func.sum(c.clicks), sa.func.sum(c.prefetches))
            .group_by(c.send_id, c.link))


def clicks_of_send(engine: Engine, send_id: int) -> list[LinkClicks]:
    """Each link of a send, in its email's order, with its clicks and prefetches."""
    counted = _click_sums().where(link_clicks.c.send_id == send_id).subquery()
    query = (sa.select(links.c.number, links.c.url, sa.func.coalesce(counted.c[2], 0),
                       sa.func.coalesce(counted.c[3], 0))
             .outerjoin(counted, counted.c.link == links.c.number)
             .where(links.c.send_id == send_id).order_by(links.c.number))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [LinkClicks(int(n), str(url), int(clicks), int(pre)) for n, url, clicks, pre in rows]


@dataclass(frozen=True)
class TopLink:
    """A link of some send among the most clicked."""

    slug: str
    url: str
    clicks: int
    prefetches: int


def top_links(engine: Engine, limit: int = 10) -> list[TopLink]:
    """The most clicked links across every send, most clicked first."""
    counted = _click_sums().subquery()
    clicks, prefetches = counted.c[2], counted.c[3]
    query = (sa.select(sends.c.issue_slug, links.c.url, clicks, prefetches)
             .join(links, sa.and_(links.c.send_id == counted.c.send_id,
                                  links.c.number == counted.c.link))
             .join(sends, sends.c.id == counted.c.send_id)
             .where(clicks > 0)
             .order_by(clicks.desc(), sends.c.issue_slug, links.c.number).limit(limit))
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [TopLink(str(slug), str(url), int(n), int(p)) for slug, url, n, p in rows]


def click_totals(engine: Engine) -> tuple[int, int]:
    """Clicks and prefetches ever counted, for Prometheus."""
    c = link_clicks.c
    with engine.connect() as conn:
        row = conn.execute(sa.select(sa.func.coalesce(sa.func.sum(c.clicks), 0),
                                     sa.func.coalesce(sa.func.sum(c.prefetches), 0))).one()
    return int(row[0]), int(row[1])


def click_lines(counts: list[LinkClicks]) -> list[str]:
    """`publisher report`'s lines for a send's links (none when clicks were not counted)."""
    if not counts:
        return []
    return ["link clicks (prefetches by link scanners apart):",
            *(f"  {c.clicks:>7} clicks {c.prefetches:>6} prefetches  {c.url}" for c in counts)]


def feed_lines(feeds: list[FeedReadership], periods: int) -> list[str]:
    """`publisher analytics feeds`: per feed, its aggregators' latest counts and its last
    `periods` days or months."""
    if not feeds:
        return ["no feed fetch counted yet"]
    lines = []
    for feed in feeds:
        lines.append(feed.feed)
        named = ", ".join(f"{a.aggregator} {a.subscribers}" for a in feed.aggregators)
        lines.append(f"  aggregators: {named} (subscribers in all: "
                     f"{feed.aggregator_subscribers})" if named else "  aggregators: none")
        lines += [f"  {p.period:<10}  {p.fetches:>7} fetches  {p.other_fetchers:>6} other "
                  "fetchers" for p in feed.periods[-periods:]]
    return lines


def view_lines(pages: list[PageViews], periods: int) -> list[str]:
    """`publisher analytics views`: per issue page, its views in all and its last days."""
    if not pages:
        return ["no issue page view counted yet"]
    lines = []
    for page in pages:
        lines.append(f"{page.page}  {page.views} views")
        lines += [f"  {period:<10}  {views:>7} views" for period, views in page.periods[-periods:]]
    return lines
