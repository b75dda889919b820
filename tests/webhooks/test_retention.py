"""Retention of webhook rows (`publisher db prune`): deliveries settled (delivered or failed)
longer ago than `database.webhook_retention_days` go, then the events no delivery names any
more; a pending delivery is never pruned, nor the event it needs, and a second run changes
nothing. The command prints what it pruned, or with --dry-run what it would."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from publisher.config import Config, load_config
from publisher.db import open_database, webhook_deliveries, webhook_events
from publisher.sending import retention, webhooks
from tests.cli import invoke_publisher
from tests.sending.helpers import add_confirmed, write_config_file
from tests.webhooks.helpers import SECRET_ENV, Clock, with_webhooks
from tests.webhooks.receiver import Receiver

FAR = "http://127.0.0.1:9/hook"  # nothing listens: its rows stay pending


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, "a-secret")


def refuse_confirmed(event: dict[str, object], seen: int) -> int:
    return 410 if event["type"] == "confirmed" else 200


def rows(engine: Engine) -> tuple[dict[tuple[int, str], str], list[int]]:
    """(event id, url) -> state of every delivery, and every event id."""
    d = webhook_deliveries.c
    with engine.connect() as conn:
        found = {(int(e), str(u)): str(s) for e, u, s in conn.execute(
            sa.select(d.event_id, d.url, d.status))}
        event_ids = [int(i) for i in conn.execute(
            sa.select(webhook_events.c.id).order_by(webhook_events.c.id)).scalars()]
    return found, event_ids


def only(config: Config, url: str) -> Config:
    hooks = [w for w in config.settings.webhooks if w.url == url]
    return replace(config, settings=config.settings.model_copy(update={"webhooks": hooks}))


def test_prune_deletes_old_settled_deliveries_and_unneeded_events_never_pending_ones(
        seed_config: Config, database_url: str) -> None:
    clock = Clock()
    with Receiver(refuse_confirmed) as receiver:
        config = with_webhooks(seed_config, database_url, receiver.url, FAR)
        engine = open_database(database_url)
        webhooks.Deliverer(engine, config, clock).sync()
        add_confirmed(engine, 2)  # events 1, 2: confirmed (410: failed) near, pending far
        webhooks.Deliverer(engine, only(config, receiver.url), clock).run(None, lambda: 0.0)
        clock.advance(20 * 86400)
        add_confirmed(engine, 1, start=2)  # event 3, settled 20 days later
        webhooks.Deliverer(engine, only(config, receiver.url), clock).run(None, lambda: 0.0)
    clock.advance(15 * 86400)  # 35 days after the first two events, 15 after the third
    before = clock() - timedelta(days=30)
    found, event_ids = rows(engine)
    assert event_ids == [1, 2, 3] and set(found.values()) == {"failed", "pending"}
    assert retention.prunable_webhooks(engine, before) == retention.WebhookRows(2, 0)
    assert retention.prune_webhooks(engine, before, chunk=1) == retention.WebhookRows(2, 0)
    found, event_ids = rows(engine)
    assert found == {(1, FAR): "pending", (2, FAR): "pending", (3, receiver.url): "failed",
                     (3, FAR): "pending"}
    assert event_ids == [1, 2, 3]  # each still needed by a pending delivery

    webhooks.Deliverer(engine, only(config, receiver.url), clock).sync()  # FAR's rows: failed
    clock.advance(31 * 86400)
    before = clock() - timedelta(days=30)
    assert retention.prunable_webhooks(engine, before) == retention.WebhookRows(4, 3)
    assert retention.prune_webhooks(engine, before, chunk=2) == retention.WebhookRows(4, 3)
    assert rows(engine) == ({}, [])
    assert retention.prune_webhooks(engine, before) == retention.WebhookRows(0, 0)
    engine.dispose()


def test_db_prune_says_what_it_pruned_of_the_webhooks_after_the_configured_days(
        tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'publisher.db'}"
    with Receiver(refuse_confirmed) as receiver:
        extra = (f'[[webhooks]]\nurl = "{receiver.url}"\nevents = ["confirmed"]\n'
                 f'secret_env = "{SECRET_ENV}"\n')
        path = write_config_file(tmp_path / "site", 8025, url, extra)
        path.write_text(path.read_text(encoding="utf-8").replace(
            f'url = "{url}"', f'url = "{url}"\nwebhook_retention_days = 0.5'), encoding="utf-8")
        delivery = webhooks.Deliverer(open_database(url), load_config(config_file=path),
                                      Clock())  # 2026-05-01: long before the wall clock
        delivery.sync()
        add_confirmed(delivery.engine, 2)
        delivery.run(None, lambda: 0.0)
    assert set(rows(delivery.engine)[0].values()) == {"failed"}
    dry = invoke_publisher("db", "prune", "--older-than", "30", "--dry-run", config=path)
    assert dry.exit_code == 0, dry.output
    assert ("would prune 2 webhook deliveries settled more than 0.5 days ago and 2 events "
            "no delivery needs") in dry.output
    assert len(rows(delivery.engine)[1]) == 2
    done = invoke_publisher("db", "prune", "--older-than", "30", config=path)
    assert ("pruned 2 webhook deliveries settled more than 0.5 days ago and 2 events "
            "no delivery needs") in done.output
    assert rows(delivery.engine) == ({}, [])
    delivery.engine.dispose()
