"""/metrics counts feed fetches per feed, read from the counters at each scrape (pruned
months included)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from prometheus_client import CollectorRegistry, generate_latest

from publisher.analytics import counters
from publisher.analytics.tally import Batch
from publisher.db import open_database
from publisher.sending.metrics import DatabaseCollector, ProcessState


def test_feed_fetches_are_a_counter_per_feed(database_url: str) -> None:
    engine = open_database(database_url)
    batch = Batch()
    batch.fetches[(date(2024, 5, 1), "/feed.atom")] = 5
    batch.fetches[(date(2099, 1, 1), "/feed.atom")] = 2
    batch.fetches[(date(2099, 1, 1), "/tags/llm/feed.rss")] = 1
    counters.add(engine, batch)
    counters.prune(engine, date(2024, 6, 1))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector(engine, lambda: datetime(2099, 1, 1, tzinfo=UTC),
                                        ProcessState()))
    text = generate_latest(registry).decode()
    assert 'publisher_feed_fetches_total{feed="/feed.atom"} 7.0' in text
    assert 'publisher_feed_fetches_total{feed="/tags/llm/feed.rss"} 1.0' in text
    engine.dispose()
