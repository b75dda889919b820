"""Retention: `publisher db prune` sums the day counters older than `[analytics] keep_days`
into one row per month; fetches, other fetchers, views, clicks and prefetches keep their
totals, an aggregator's month keeps its latest report, and newer days stay as they are."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from publisher.analytics import counters, figures
from publisher.analytics.counters import LinkCount
from publisher.analytics.tally import Batch, Report
from publisher.db import feed_fetches, link_clicks, open_database, page_views
from tests.cli import invoke_publisher

CONFIG = """[site]
title = "Readership"
base_url = "https://news.example.org"
timezone = "Asia/Shanghai"

[database]
url = "{url}"

[analytics]
keep_days = 30
"""
FEED, PAGE = "/feed.atom", "/issues/first/"
OLD_DAYS = [date(2024, 5, 30), date(2024, 5, 31), date(2024, 6, 1), date(2024, 6, 2)]
RECENT = date(2099, 1, 1)  # never older than keep_days


def _counted_days(engine: Engine) -> None:
    batch = Batch()
    for number, day in enumerate([*OLD_DAYS, RECENT], start=1):
        batch.fetches[(day, FEED)] += 10 * number
        batch.new_fetchers[(day, FEED)] += number
        batch.views[(day, PAGE)] += number
        at = datetime(day.year, day.month, day.day, 6, tzinfo=UTC)
        batch.report((day, FEED, "Feedly"), Report(100 + number, at))
    counters.add(engine, batch)


def _totals(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        fetched = conn.execute(sa.select(sa.func.sum(feed_fetches.c.fetches),
                                         sa.func.sum(feed_fetches.c.other_fetchers))).one()
        viewed = conn.execute(sa.select(sa.func.sum(page_views.c.views))).scalar_one()
    return int(fetched[0]), int(fetched[1]), int(viewed)


def test_old_days_are_summed_into_months_and_the_totals_are_kept(database_url: str) -> None:
    engine = open_database(database_url)
    _counted_days(engine)
    before = _totals(engine)
    assert counters.prunable(engine, date(2024, 7, 1)).rows == 12
    pruned = counters.prune(engine, date(2024, 7, 1))
    assert (pruned.fetch_rows, pruned.aggregator_rows, pruned.view_rows) == (4, 4, 4)
    assert _totals(engine) == before
    [feed] = figures.feed_readership(engine)
    assert [(p.period, p.fetches, p.other_fetchers) for p in feed.periods] == [
        ("2024-05", 30, 3), ("2024-06", 70, 7), ("2099-01-01", 50, 5)]
    assert [(a.aggregator, a.subscribers) for a in feed.aggregators] == [("Feedly", 105)]
    [page] = figures.issue_views(engine)
    assert page.periods == [("2024-05", 3), ("2024-06", 7), ("2099-01-01", 5)]
    assert counters.prune(engine, date(2024, 7, 1)).rows == 0  # nothing left to sum
    engine.dispose()


def test_a_day_pruned_later_into_a_month_already_summed_adds_to_it(database_url: str) -> None:
    engine = open_database(database_url)
    _counted_days(engine)
    counters.prune(engine, date(2024, 6, 2))  # 2024-06-02 stays a day
    counters.prune(engine, date(2024, 7, 1))  # then joins June
    [feed] = figures.feed_readership(engine)
    assert [(p.period, p.fetches) for p in feed.periods] == [
        ("2024-05", 30), ("2024-06", 70), ("2099-01-01", 50)]
    engine.dispose()


def test_db_prune_sums_the_days_older_than_keep_days(database_url: str, tmp_path: Path) -> None:
    engine = open_database(database_url)
    _counted_days(engine)
    config = tmp_path / "publisher.toml"
    config.write_text(CONFIG.format(url=database_url), encoding="utf-8")
    dry = invoke_publisher("db", "prune", "--older-than", "30", "--dry-run", config=config)
    assert ("would sum 12 readership day rows older than 30 days into months (feed fetches 4, "
            "aggregator reports 4, page views 4, link clicks 0)") in dry.output
    done = invoke_publisher("db", "prune", "--older-than", "30", config=config)
    assert done.exit_code == 0, done.output
    assert "summed 12 readership day rows older than 30 days into months" in done.output
    assert [p.period for p in figures.feed_readership(engine)[0].periods] == [
        "2024-05", "2024-06", "2099-01-01"]
    engine.dispose()


def test_old_click_days_are_summed_into_months_per_link(database_url: str) -> None:
    engine = open_database(database_url)
    counters.add_clicks(engine, [LinkCount(date(2024, 6, 16), 1, 1, 5, 3),
                                 LinkCount(date(2024, 6, 17), 1, 1, 2, 0),
                                 LinkCount(date(2024, 6, 17), 1, 2, 1, 1),
                                 LinkCount(date(2024, 7, 2), 1, 1, 4, 0)])
    assert counters.prunable(engine, date(2024, 7, 1)).click_rows == 3
    assert counters.prune(engine, date(2024, 7, 1)).click_rows == 3
    with engine.connect() as conn:
        rows = conn.execute(sa.select(link_clicks).order_by(link_clicks.c.period,
                                                           link_clicks.c.link)).all()
    assert [tuple(r) for r in rows] == [("2024-06", 1, 1, 7, 3), ("2024-06", 1, 2, 1, 1),
                                        ("2024-07-02", 1, 1, 4, 0)]
    engine.dispose()
