"""From one request to the counters it moves, in memory: the only place the address and
User-Agent of a request are looked at, and the keeper of the day's salt.

Rules. A request is counted only when it is a GET answered 200 or 304 and carries neither
`DNT: 1` nor `Sec-GPC: 1`. A feed fetch always counts as a fetch; an aggregator's reported
subscribers are kept (its latest report of the day); any other fetcher that is not a
crawler counts once a day per feed, recognised by an HMAC of its address and User-Agent
under a salt drawn at random for that day. Salt and HMACs live in this object only, in
memory: they are dropped when the first fetcher of a new day (in the site's zone) arrives,
so yesterday's fetchers can no longer be recognised by anyone. An issue page counts as a
view when a browser asks for it, never a crawler, script or aggregator.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from publisher.analytics.access_log import Hit
from publisher.analytics.site_paths import feed_of, issue_page_of
from publisher.analytics.user_agents import aggregator_report, is_automated, is_crawler

COUNTED_STATUSES = (200, 304)
SALT_BYTES = 32


@dataclass(frozen=True)
class Report:
    """An aggregator's subscriber count for a feed, and when it said so."""

    subscribers: int
    at: datetime


@dataclass
class Batch:
    """Counter increments to write together, keyed by (day, feed), (day, feed, aggregator)
    and (day, issue page). Nothing in it names a person."""

    fetches: dict[tuple[date, str], int] = field(default_factory=lambda: defaultdict(int))
    new_fetchers: dict[tuple[date, str], int] = field(default_factory=lambda: defaultdict(int))
    reports: dict[tuple[date, str, str], Report] = field(default_factory=dict)
    views: dict[tuple[date, str], int] = field(default_factory=lambda: defaultdict(int))

    def __bool__(self) -> bool:
        return bool(self.fetches or self.views)

    def report(self, key: tuple[date, str, str], report: Report) -> None:
        """Keep the latest report for the key."""
        kept = self.reports.get(key)
        if kept is None or kept.at <= report.at:
            self.reports[key] = report


def counted(hit: Hit) -> bool:
    """Whether a request may be counted at all."""
    return hit.method == "GET" and hit.status in COUNTED_STATUSES and not hit.opted_out


class Tally:
    """Turns requests into a Batch; holds the day's salt and the HMACs of its fetchers."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self._lock = threading.Lock()
        self._day: date | None = None
        self._salt = b""
        self._seen: dict[str, set[bytes]] = {}

    def add(self, hit: Hit, batch: Batch) -> bool:
        """Add what the request counts for to `batch`; whether it counted for anything."""
        if not counted(hit):
            return False
        day = hit.at.astimezone(self.zone).date()
        feed = feed_of(hit.path)
        if feed is not None:
            batch.fetches[(day, feed)] += 1
            report = aggregator_report(hit.user_agent)
            if report is not None:
                batch.report((day, feed, report.name), Report(report.subscribers, hit.at))
            elif not is_crawler(hit.user_agent) and self._first_today(day, feed, hit):
                batch.new_fetchers[(day, feed)] += 1
            return True
        page = issue_page_of(hit.path)
        if page is None or is_automated(hit.user_agent):
            return False
        batch.views[(day, page)] += 1
        return True

    def _first_today(self, day: date, feed: str, hit: Hit) -> bool:
        """Whether this fetcher (address and User-Agent) is new today for the feed."""
        with self._lock:
            if day != self._day:
                self._day, self._salt, self._seen = day, secrets.token_bytes(SALT_BYTES), {}
            mark = hmac.new(self._salt, f"{hit.ip}\n{hit.user_agent}".encode(),
                            hashlib.sha256).digest()[:16]
            seen = self._seen.setdefault(feed, set())
            if mark in seen:
                return False
            seen.add(mark)
            return True
