"""A slow reply holds its own slot only: the other readers' events to that endpoint keep
going out, up to BATCH at a time, while it waits, and a slow endpoint holds no other
endpoint; order per reader still holds (a reader's next event waits for the slow one)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from publisher.config import Config
from publisher.db import open_database
from publisher.sending import webhooks
from publisher.sending.webhooks import BATCH
from publisher.subscribers import store
from tests.sending.helpers import add_confirmed, wait_until
from tests.webhooks.helpers import SECRET_ENV, Clock, with_webhooks
from tests.webhooks.receiver import Receiver

SLOW_SECONDS = 2.0
READERS = 3 * BATCH


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, "a-secret")


def slow_for(email: str) -> Any:
    def script(event: dict[str, Any], seen: int) -> int:
        if event["data"]["subscriber"]["email"] == email and event["type"] == "confirmed":
            time.sleep(SLOW_SECONDS)
        return 200
    return script


def test_the_other_readers_events_go_out_while_one_reply_is_slow(
        seed_config: Config, database_url: str) -> None:
    clock = Clock()
    with Receiver(slow_for("u0@example.net")) as receiver:
        config = with_webhooks(seed_config, database_url, receiver.url, timeout_seconds=10)
        delivery = webhooks.Deliverer(open_database(database_url), config, clock)
        delivery.sync()
        add_confirmed(delivery.engine, READERS)  # u0 first: its event is in the first claim
        with delivery.engine.begin() as conn:
            store.unsubscribe(conn, 1, clock(), how="cli")  # u0's next event waits for it
        started = time.monotonic()
        assert delivery.run(None, time.monotonic) == (READERS + 1, False)
        seconds = time.monotonic() - started
    order = [(r.event["type"], r.event["data"]["subscriber"]["id"]) for r in receiver.received]
    # replies are recorded as they are answered: everyone else's came back before u0's
    assert order[-2:] == [("confirmed", 1), ("unsubscribed", 1)]
    assert len(order) == READERS + 1
    assert seconds < 2 * SLOW_SECONDS, "one slow reply does not hold the other 47"
    delivery.engine.dispose()


def test_a_slow_endpoint_does_not_hold_another(seed_config: Config, database_url: str) -> None:
    clock = Clock()
    with Receiver(lambda event, seen: 200, delay=SLOW_SECONDS) as slow, Receiver() as fast:
        config = with_webhooks(seed_config, database_url, slow.url, fast.url)  # slow first
        delivery = webhooks.Deliverer(open_database(database_url), config, clock)
        delivery.sync()
        add_confirmed(delivery.engine, BATCH)
        with ThreadPoolExecutor(max_workers=1) as runner:
            running = runner.submit(delivery.run, None, time.monotonic)
            wait_until(lambda: len(fast.received) == BATCH, seconds=SLOW_SECONDS * 0.75)
            assert slow.received == []  # replies are recorded once answered: none yet
            assert running.result(timeout=60) == (2 * BATCH, False)
    assert len(slow.received) == BATCH
    delivery.engine.dispose()
