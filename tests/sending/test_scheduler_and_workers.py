"""The daemon's schedule with an injected clock, and PostgreSQL workers sharing one send."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from publisher.config import Config
from publisher.db import deliveries, open_database
from publisher.sending import outbox
from publisher.sending.daemon import Daemon
from publisher.sending.send_issue import ready, start
from tests.cli import start_publisher
from tests.conftest import SEED_ISSUE
from tests.feeds.helpers import private_site, write_issue
from tests.sending.faulty_smtp import FaultySMTP
from tests.sending.helpers import (
    SECRETS,
    T0,
    add_confirmed,
    bulk_confirmed,
    database,
    smtp_site,
    write_config_file,
)


def test_the_daemon_sends_due_issues_once_and_leaves_drafts_and_future_ones(
    seed_config: Config, tmp_path: Path
) -> None:
    site = private_site(seed_config, tmp_path)
    write_issue(site.issues_dir, "later", 20, extra="send_at: 2024-07-01T09:00:00+08:00\n")
    write_issue(site.issues_dir, "draft", 21,
                extra="send_at: 2024-06-01T09:00:00+08:00\ndraft: true\n")
    clock = [datetime(2024, 6, 16, 1, 30, tzinfo=UTC)]  # after the seed's send_at
    with FaultySMTP(lambda r, a: "ok") as server:
        config = smtp_site(site, server.port)
        engine = database(config)
        add_confirmed(engine, 10)
        daemon = Daemon(config, SECRETS, engine, lambda: clock[0])
        daemon.tick()
        daemon.tick()
        assert outbox.send_slugs(engine) == {"2024-06-first-half"}
        assert sum(server.delivered.values()) == 10
        assert (config.output_dir / "feed.atom").exists()  # rebuilt on the first tick
        clock[0] = datetime(2024, 7, 2, tzinfo=UTC)
        daemon.tick()
    assert outbox.send_slugs(engine) == {"2024-06-first-half", "later"}
    assert set(server.delivered.values()) == {2}  # each subscriber: seed edition + "later"


def test_a_broken_issue_is_refused_before_any_row_is_written(
    seed_config: Config, tmp_path: Path
) -> None:
    site = private_site(seed_config, tmp_path)
    broken = write_issue(site.issues_dir, "broken", 22,
                         extra="send_at: 2024-06-01T09:00:00+08:00\n")
    broken.write_text(broken.read_text() + "\n## Empty\n", encoding="utf-8")
    sending = site.settings.sending.model_copy(update={"catch_up_hours": 24 * 60})
    site = replace(site, settings=site.settings.model_copy(update={"sending": sending}))
    engine = database(site)
    add_confirmed(engine, 3)
    daemon = Daemon(site, SECRETS, engine, lambda: T0 + timedelta(days=30))
    daemon._start_due_sends(T0 + timedelta(days=30))  # noqa: SLF001 - the step under test
    assert outbox.send_slugs(engine) == {"2024-06-first-half"}  # the good one still starts
    with engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(deliveries)).scalar()
    assert total == 3


@pytest.mark.postgres
def test_three_postgres_workers_drain_3000_deliveries_without_sending_any_twice(
    seed_config: Config, tmp_path: Path, postgres_url: str
) -> None:
    engine = open_database(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE deliveries, sends, subscribers RESTART IDENTITY CASCADE"))
    addresses = bulk_confirmed(engine, 3000)
    with FaultySMTP(lambda r, a: "ok", delay=0.001) as server:
        config = smtp_site(seed_config, server.port, database_url=postgres_url, pool_size=4)
        send_id = start(engine, config, ready(config, SEED_ISSUE), T0)
        config_file = write_config_file(tmp_path, server.port, postgres_url,
                                        "[sending]\nbatch_size = 50\n", pool_size=4)
        workers = [start_publisher(config_file, "run", "--worker", "--once",
                                   stdout=None) for _ in range(3)]
        for worker in workers:
            _, err = worker.communicate(timeout=240)
            assert worker.returncode == 0, err.decode()[-2000:]
    assert server.delivered == Counter(dict.fromkeys(addresses, 1))
    assert outbox.counts(engine, send_id)["sent"] == 3000
    assert len({w.pid for w in workers}) == 3


def test_two_daemons_on_one_sqlite_database_send_each_delivery_once(
    seed_config: Config, tmp_path: Path
) -> None:
    database_url = f"sqlite:///{tmp_path / 'shared.db'}"
    engine = open_database(database_url)
    addresses = bulk_confirmed(engine, 1000)
    with FaultySMTP(lambda r, a: "ok", delay=0.001) as server:
        config_file = write_config_file(tmp_path, server.port, database_url,
                                        "[sending]\nbatch_size = 50\n"
                                        "catch_up_hours = 100000\n",  # the seed is from 2024
                                        pool_size=4)
        daemons = [start_publisher(config_file, "run", "--once", stdout=None) for _ in range(2)]
        logs = []
        for daemon in daemons:
            _, err = daemon.communicate(timeout=240)
            logs.append(err.decode())
            assert daemon.returncode == 0, err.decode()[-2000:]
    assert server.delivered == Counter(dict.fromkeys(addresses, 1))
    assert outbox.send_slugs(engine) == {"2024-06-first-half"}  # started once, by one daemon
    assert all('"event"' in log for log in logs)
    started = [line for log in logs for line in log.splitlines() if '"send_started"' in line]
    assert len(started) == 1, "a daemon that joined the other's send must not say it started"
