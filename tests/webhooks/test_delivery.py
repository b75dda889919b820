"""Webhook events and their delivery, in process against a real receiver on loopback:
what is recorded (and when nothing is), signatures under a rotation, retries, failures,
order per subscriber, replays; on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from typing import Any

import pytest
import sqlalchemy as sa

from publisher import events
from publisher.config import parse_settings
from publisher.db import open_database, webhook_deliveries, webhook_events
from publisher.errors import ConfigError
from publisher.sending import webhooks
from publisher.subscribers import store
from publisher.subscribers.addresses import normalise_address
from publisher.subscribers.store import Consent
from tests.webhooks.helpers import SECRET_ENV, T0, Clock, verifies, with_webhooks
from tests.webhooks.receiver import HANG, Receiver

CONSENT = Consent("test", T0)


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, "old-secret new-secret")


def deliverer(seed_config: object, database_url: str, url: str, clock: Clock,
              **settings: float) -> webhooks.Deliverer:
    config = with_webhooks(seed_config, database_url, url, **settings)  # type: ignore[arg-type]
    delivery = webhooks.Deliverer(open_database(database_url), config, clock)
    delivery.sync()
    return delivery


def add_reader(engine: sa.Engine, email: str, clock: Clock, name: str | None = None) -> int:
    with engine.begin() as conn:
        return store.add(conn, email, name, store.PENDING, CONSENT, clock())[0].id


def rows(engine: sa.Engine) -> list[tuple[str, str]]:
    """(event type, delivery state) of every delivery row, in id order."""
    d, e = webhook_deliveries.c, webhook_events.c
    with engine.connect() as conn:
        return [(str(t), str(s)) for t, s in conn.execute(
            sa.select(e.type, d.status).join_from(webhook_deliveries, webhook_events,
                                                  d.event_id == e.id).order_by(d.id))]


def test_an_unsubscribe_is_delivered_signed_with_both_secrets_during_a_rotation(
    seed_config: object, database_url: str
) -> None:
    clock = Clock()
    with Receiver() as receiver:
        delivery = deliverer(seed_config, database_url, receiver.url, clock)
        reader = add_reader(delivery.engine, "ada@example.org", clock)
        with delivery.engine.begin() as conn:
            store.unsubscribe(conn, reader, clock(), "one-click")
        assert delivery.run(None, time.monotonic) == (2, False)
    first, second = receiver.received
    assert [first.event["type"], second.event["type"]] == ["subscribed", "unsubscribed"]
    assert second.event["data"] == {"subscriber": {
        "id": reader, "email": "ada@example.org", "name": "", "status": "unsubscribed",
        "tags": []}, "via": "one-click"}
    assert second.event["id"] == second.headers["publisher-event-id"]
    assert second.headers["content-type"] == "application/json"
    assert second.headers["user-agent"].startswith("publisher-webhooks/")
    for secret in ("old-secret", "new-secret"):
        assert verifies(secret, second.headers["publisher-signature"], second.body)
    assert not verifies("another", second.headers["publisher-signature"], second.body)
    assert rows(delivery.engine) == [("subscribed", "delivered"), ("unsubscribed", "delivered")]


def test_a_change_that_rolls_back_leaves_no_event(
    seed_config: object, database_url: str
) -> None:
    clock = Clock()
    delivery = deliverer(seed_config, database_url, "http://127.0.0.1:9/hook", clock)
    with pytest.raises(RuntimeError), delivery.engine.begin() as conn:
        store.add(conn, "ada@example.org", None, store.PENDING, CONSENT, clock())
        raise RuntimeError("the rest of the change failed")
    assert rows(delivery.engine) == []


def test_without_webhooks_no_event_is_written(seed_config: object, database_url: str) -> None:
    clock = Clock()
    delivery = deliverer(seed_config, database_url, "http://127.0.0.1:9/hook", clock)
    delivery.config = with_webhooks(seed_config, database_url)  # type: ignore[arg-type]
    delivery.sync()
    reader = add_reader(delivery.engine, "ada@example.org", clock)
    with delivery.engine.begin() as conn:
        store.confirm(conn, reader, clock())
    with delivery.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(webhook_events)).scalar() == 0


def test_a_410_fails_at_once_and_a_500_or_timeout_is_retried_with_the_same_id(
    seed_config: object, database_url: str
) -> None:
    replies = {"a@example.org": [410], "b@example.org": [500, HANG, 200]}

    def script(event: dict[str, object], seen: int) -> int:
        email = event["data"]["subscriber"]["email"]  # type: ignore[index]
        return replies[str(email)][seen - 1]

    clock = Clock()
    with Receiver(script, hang_seconds=1.5) as receiver:
        delivery = deliverer(seed_config, database_url, receiver.url, clock,
                             timeout_seconds=0.5, backoff_base_seconds=10)
        add_reader(delivery.engine, "a@example.org", clock)
        add_reader(delivery.engine, "b@example.org", clock)
        delivery.run(None, time.monotonic)
        assert rows(delivery.engine) == [("subscribed", "failed"), ("subscribed", "pending")]
        clock.advance(10)  # the first retry is due: it times out
        delivery.run(None, time.monotonic)
        clock.advance(10)  # not yet due (20 s after the second attempt)
        delivery.run(None, time.monotonic)
        assert len(receiver.received) == 3
        clock.advance(10)
        delivery.run(None, time.monotonic)
    assert rows(delivery.engine) == [("subscribed", "failed"), ("subscribed", "delivered")]
    statuses = [r.status for r in receiver.received]  # two readers' rows go out in parallel
    assert sorted(statuses[:2]) == [410, 500] and statuses[2:] == [HANG, 200]
    retried = [r for r in receiver.received if r.status != 410]
    assert len(retried) == 3 and len({r.event_id for r in retried}) == 1
    found = webhooks.status(delivery.engine, [receiver.url], clock())
    assert found[0].as_json() == {"url": receiver.url, "delivered": 1, "pending": 0,
                                  "failed": 1, "oldest_undelivered_seconds": 0,
                                  "last_failure": "410 ok"}


def test_a_later_event_waits_while_an_earlier_one_of_its_reader_is_retried(
    seed_config: object, database_url: str
) -> None:
    def script(event: dict[str, Any], seen: int) -> int:
        first_of_ada = event["type"] == "subscribed" and seen == 1
        return 503 if first_of_ada and event["data"]["subscriber"]["name"] == "Ada" else 200

    clock = Clock()
    with Receiver(script) as receiver:
        delivery = deliverer(seed_config, database_url, receiver.url, clock,
                             backoff_base_seconds=5)
        reader = add_reader(delivery.engine, "ada@example.org", clock, "Ada")
        with delivery.engine.begin() as conn:
            store.confirm(conn, reader, clock())
        other = add_reader(delivery.engine, "bob@example.org", clock)
        delivery.run(None, time.monotonic)
        assert rows(delivery.engine) == [("subscribed", "pending"), ("confirmed", "pending"),
                                         ("subscribed", "delivered")]
        clock.advance(5)
        delivery.run(None, time.monotonic)
    order = [(r.event["type"], r.event["data"]["subscriber"]["id"]) for r in receiver.received]
    assert sorted(order[:2]) == sorted([("subscribed", reader), ("subscribed", other)])
    assert order[2:] == [("subscribed", reader), ("confirmed", reader)]


def test_retries_end_after_retry_hours_as_failed(seed_config: object, database_url: str) -> None:
    clock = Clock()
    with Receiver(lambda event, seen: 500) as receiver:
        delivery = deliverer(seed_config, database_url, receiver.url, clock,
                             backoff_base_seconds=60, retry_hours=0.1)  # 6 minutes
        add_reader(delivery.engine, "ada@example.org", clock)
        for _ in range(10):
            delivery.run(None, time.monotonic)
            clock.advance(120)
    assert rows(delivery.engine) == [("subscribed", "failed")]
    assert len(receiver.received) == 3  # at 0 s, 60 s later and 120 s after that


def test_a_replay_delivers_the_same_event_ids_again(
    seed_config: object, database_url: str
) -> None:
    clock = Clock()
    with Receiver() as receiver:
        delivery = deliverer(seed_config, database_url, receiver.url, clock)
        add_reader(delivery.engine, "ada@example.org", clock)
        delivery.run(None, time.monotonic)
        clock.advance(3600)
        add_reader(delivery.engine, "bob@example.org", clock)
        delivery.run(None, time.monotonic)
        since = webhooks.since_moment("30m", clock())
        assert webhooks.replay(delivery.engine, since, clock(), None,
                               delivery.config.settings.webhooks) == 1
        delivery.run(None, time.monotonic)
    ids = [r.event_id for r in receiver.received]
    assert len(ids) == 3 and ids[1] == ids[2] != ids[0]


def test_an_erasure_sends_the_id_only_and_scrubs_earlier_events(
    seed_config: object, database_url: str
) -> None:
    clock = Clock()
    with Receiver() as receiver:
        delivery = deliverer(seed_config, database_url, receiver.url, clock)
        reader = add_reader(delivery.engine, "ada@example.org", clock)
        with delivery.engine.begin() as conn:
            store.erase(conn, normalise_address("ada@example.org"), clock())
        delivery.run(None, time.monotonic)
    assert [r.event["data"] for r in receiver.received] == [{"subscriber": {"id": reader}}] * 2
    assert b"ada@" not in b"".join(r.body for r in receiver.received)


def test_an_unknown_event_type_or_a_plain_http_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="unknown event type 'opened'"):
        parse_settings('[[webhooks]]\nurl = "https://example.org/hook"\n'
                       'events = ["opened"]\nsecret_env = "HOOK_SECRET"\n')
    with pytest.raises(ConfigError, match="must be https"):
        parse_settings('[[webhooks]]\nurl = "http://example.org/hook"\n'
                       'events = ["confirmed"]\nsecret_env = "HOOK_SECRET"\n')


def test_an_endpoint_removed_from_the_config_has_its_pending_rows_failed(
    seed_config: object, database_url: str
) -> None:
    clock = Clock()
    delivery = deliverer(seed_config, database_url, "http://127.0.0.1:9/hook", clock)
    add_reader(delivery.engine, "ada@example.org", clock)
    delivery.config = with_webhooks(seed_config, database_url)  # type: ignore[arg-type]
    delivery.sync()
    assert rows(delivery.engine) == [("subscribed", "failed")]
    (found,) = webhooks.status(delivery.engine, [], clock())
    assert found.last_failure == events.REMOVED_REPLY
