"""/metrics counts feed fetches per feed, and link clicks and prefetches, read from the
counters at each scrape (pruned months included)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from prometheus_client import CollectorRegistry, generate_latest
from sqlalchemy.engine import Engine

from publisher.analytics import counters
from publisher.analytics.counters import LinkCount
from publisher.analytics.tally import Batch
from publisher.db import open_database
from publisher.sending.metrics import DatabaseCollector, ProcessState


def metrics_after_prune(engine: Engine) -> str:
    """/metrics as the database's collector gives it, once the days before June 2024 are
    summed into months."""
    counters.prune(engine, date(2024, 6, 1))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(engine, lambda: datetime(2099, 1, 1, tzinfo=UTC),
                                        ProcessState()))
    return generate_latest(registry).decode()


def test_feed_fetches_are_a_counter_per_feed(database_url: str) -> None:
    engine = open_database(database_url)
    batch = Batch()
    batch.fetches[(date(2024, 5, 1), "/feed.atom")] = 5
    batch.fetches[(date(2099, 1, 1), "/feed.atom")] = 2
    batch.fetches[(date(2099, 1, 1), "/tags/llm/feed.rss")] = 1
    counters.add(engine, batch)
    text = metrics_after_prune(engine)
    assert 'publisher_feed_fetches_total{feed="/feed.atom"} 7.0' in text
    assert 'publisher_feed_fetches_total{feed="/tags/llm/feed.rss"} 1.0' in text
    engine.dispose()


def test_link_clicks_and_prefetches_are_counters_with_pruned_months(database_url: str) -> None:
    engine = open_database(database_url)
    counters.add_clicks(engine, [LinkCount(date(2024, 5, 1), 1, 1, 4, 2),
                                 LinkCount(date(2099, 1, 1), 1, 2, 3, 0)])
    text = metrics_after_prune(engine)
    assert "publisher_link_clicks_total 7.0" in text
    assert "publisher_link_prefetches_total 2.0" in text
    engine.dispose()
