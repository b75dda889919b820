"""A send's events (started, finished, paused, cancelled) with the send's counts; the
`webhooks status` and `webhooks replay` commands on a real configured site; and the
webhook figures on /metrics."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client.core import Metric

from publisher.clock import utc_now
from publisher.config import Config, load_config
from publisher.db import open_database, webhook_events
from publisher.sending import control, metrics, outbox, webhooks
from publisher.sending.send_issue import ready, start
from publisher.subscribers import store
from publisher.subscribers.store import Consent
from tests.cli import invoke_publisher
from tests.conftest import SEED_ISSUE
from tests.sending.helpers import add_confirmed, write_config_file
from tests.webhooks.helpers import SECRET_ENV, Clock, with_webhooks
from tests.webhooks.receiver import Receiver


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, "a-secret")


def recorded(engine: sa.Engine) -> list[tuple[str, dict[str, object]]]:
    with engine.connect() as conn:
        return [(str(t), dict(d)) for t, d in conn.execute(
            sa.select(webhook_events.c.type, webhook_events.c.data).order_by(webhook_events.c.id))]


def test_a_sends_start_pause_and_cancel_are_events_with_its_counts(
    seed_config: Config, database_url: str
) -> None:
    clock = Clock()
    config = with_webhooks(seed_config, database_url, "http://127.0.0.1:9/hook")
    delivery = webhooks.Deliverer(open_database(database_url), config, clock)
    add_confirmed(delivery.engine, 2)
    delivery.sync()  # the readers came before the webhook: no event for them
    send_id = start(delivery.engine, config, ready(config, SEED_ISSUE), clock())
    assert control.pause(delivery.engine, send_id, clock())
    assert control.resume(delivery.engine, send_id)  # a resume is no event
    assert control.cancel(delivery.engine, send_id, clock()) == 2
    found = recorded(delivery.engine)
    assert [t for t, _ in found] == ["send_started", "send_paused", "send_cancelled"]
    send: dict[str, object] = found[2][1]["send"]  # type: ignore[assignment]
    assert send | {"subject": ""} == {"id": send_id, "issue": SEED_ISSUE.stem, "subject": "",
                                      "status": "cancelled", "audience": 2,
                                      "deliveries": {"cancelled": 2}}


def test_a_send_that_ends_is_send_finished(seed_config: Config, database_url: str) -> None:
    clock = Clock()
    config = with_webhooks(seed_config, database_url, "http://127.0.0.1:9/hook")
    delivery = webhooks.Deliverer(open_database(database_url), config, clock)
    delivery.sync()
    send_id = start(delivery.engine, config, ready(config, SEED_ISSUE), clock())  # nobody yet
    outbox.mark_done(delivery.engine, send_id, clock())
    assert [t for t, _ in recorded(delivery.engine)] == ["send_started", "send_finished"]


def test_status_and_replay_on_the_command_line(tmp_path: Path) -> None:
    with Receiver(lambda event, seen: 410 if seen == 1 else 200) as receiver:
        extra = (f'[[webhooks]]\nurl = "{receiver.url}"\nevents = ["confirmed"]\n'
                 f'secret_env = "{SECRET_ENV}"\n')
        url = f"sqlite:///{tmp_path / 'publisher.db'}"
        path = write_config_file(tmp_path / "site", 8025, url, extra)
        delivery = webhooks.Deliverer(open_database(url), load_config(config_file=path),
                                      Clock(utc_now()))
        delivery.sync()
        add_confirmed(delivery.engine, 1)
        delivery.run(None, time.monotonic)
        result = invoke_publisher("webhooks", "status", "--json", config=path)
        assert result.exit_code == 0, result.output
        (endpoint,) = json.loads(result.output)["endpoints"]
        assert endpoint | {"oldest_undelivered_seconds": 0} == {
            "url": receiver.url, "delivered": 0, "pending": 0, "failed": 1,
            "oldest_undelivered_seconds": 0, "last_failure": "410 ok"}
        text = invoke_publisher("webhooks", "status", config=path).output
        assert text == (f"{receiver.url}: 0 delivered, 0 pending, 1 failed; oldest undelivered "
                        "0 s\n  last failure: 410 ok\n")
        result = invoke_publisher("webhooks", "replay", "--since", "2000-01-01T00:00Z",
                                  "--url", receiver.url, config=path)
        assert result.exit_code == 0 and result.output.startswith("1 deliveries queued again")
        delivery.clock = Clock(utc_now())
        delivery.run(None, time.monotonic)
        bad = invoke_publisher("webhooks", "replay", "--since", "x", config=path)
        assert bad.exit_code == 2 and "give an ISO time" in bad.output
    assert [r.status for r in receiver.received] == [410, 200]
    assert len({r.event_id for r in receiver.received}) == 1


def test_metrics_show_webhook_deliveries_by_endpoint_and_state(
    seed_config: Config, database_url: str
) -> None:
    clock = Clock()
    with Receiver(lambda event, seen: 500) as receiver:
        config = with_webhooks(seed_config, database_url, receiver.url)
        delivery = webhooks.Deliverer(open_database(database_url), config, clock)
        delivery.sync()
        with delivery.engine.begin() as conn:
            for email in ("ada@example.org", "bob@example.org"):
                store.add(conn, email, None, store.CONFIRMED, Consent("test", clock()), clock())
        delivery.run(None, time.monotonic)
    clock.advance(90)
    found: list[Metric] = metrics.families(metrics.read_snapshot(delivery.engine, clock()),
                                           metrics.ProcessState())
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in found for s in family.samples}
    endpoint = ("endpoint", receiver.url)
    assert samples[("publisher_webhook_deliveries", (endpoint, ("state", "pending")))] == 2
    assert samples[("publisher_webhook_failures", (endpoint,))] == 0
    assert samples[("publisher_webhook_oldest_undelivered_age_seconds", (endpoint,))] == 90
