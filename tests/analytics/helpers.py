"""The analytics tests' shared inputs: one nginx access log (tests/data/analytics) that
the HTTP tests replay against the running app, and the counts both must give."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine

from publisher.analytics import figures
from publisher.analytics.access_log import Hit, parse_lines
from publisher.config import Config
from tests import web_client

ACCESS_LOG = Path(__file__).resolve().parent.parent / "data" / "analytics" / "access.log"
# 12:00 in Asia/Shanghai (the seed site's zone), the day the log was written.
NOW = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)
DAY = "2026-12-07"
ISSUE_PAGE = "/issues/2024-06-first-half/"
# feed: (fetches, other fetchers, {aggregator: latest subscribers})
EXPECTED_FEEDS: dict[str, tuple[int, int, dict[str, int]]] = {
    "/feed.atom": (7, 2, {"Feedly": 1234, "Inoreader": 3}),
    "/feed.rss": (1, 0, {"NewsBlur": 7}),
    "/tags/llm/feed.atom": (1, 0, {"Feedbin": 8}),
}
EXPECTED_VIEWS = {ISSUE_PAGE: 2}


def with_database(config: Config, url: str) -> Config:
    database = config.settings.database.model_copy(update={"url": url})
    return replace(config, settings=config.settings.model_copy(update={"database": database}))


def logged_hits() -> list[Hit]:
    with ACCESS_LOG.open(encoding="utf-8") as lines:
        return list(parse_lines(lines))


def replay(base_url: str, hits: list[Hit], **headers: str) -> Iterator[int]:
    """Each GET of the log, made again over HTTP from the same address (X-Forwarded-For,
    which uvicorn trusts from loopback) with the same User-Agent; the statuses."""
    with web_client.Client(base_url=base_url) as client:
        for hit in hits:
            if hit.method == "GET":
                yield client.get(hit.path, headers={"User-Agent": hit.user_agent,
                                                    "X-Forwarded-For": hit.ip, **headers}
                                 ).status_code


def counts(engine: Engine) -> dict[str, Any]:
    """What the counters hold, as EXPECTED_FEEDS and EXPECTED_VIEWS say it."""
    feeds: dict[str, Any] = {}
    for feed in figures.feed_readership(engine):
        days = [p.period for p in feed.periods]
        if days != [DAY]:  # every request of the log is of DAY; a read between two writes
            feeds[feed.feed] = ("periods", days)
            continue
        feeds[feed.feed] = (feed.periods[0].fetches, feed.periods[0].other_fetchers,
                            {a.aggregator: a.subscribers for a in feed.aggregators})
    views = {page.page: page.views for page in figures.issue_views(engine)}
    return {"feeds": feeds, "views": views}


EXPECTED = {"feeds": EXPECTED_FEEDS, "views": EXPECTED_VIEWS}


def counts_reach(engine: Engine, expected: dict[str, Any], seconds: float = 10.0) -> bool:
    """Whether the counters reach `expected` within `seconds`: `serve` writes them in a
    background task once each response is sent."""
    deadline = time.monotonic() + seconds
    while counts(engine) != expected:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def ticking_clock() -> Callable[[], datetime]:
    """NOW, a microsecond later at each call: the app's requests in the order they came."""
    ticks = iter(range(10**9))
    return lambda: NOW + timedelta(microseconds=next(ticks))


def with_clicks(config: Config, on: bool = True, prefetch_seconds: int = 60) -> Config:
    """The config with `[analytics] clicks` on (or off)."""
    analytics = config.settings.analytics.model_copy(
        update={"clicks": on, "prefetch_seconds": prefetch_seconds})
    return replace(config, settings=config.settings.model_copy(update={"analytics": analytics}))
