"""Exactly once when the database fails too: a result write that fails, PostgreSQL restarted
under sends, daemons and workers, PostgreSQL stopped for 30 s, a SQLite lock held for 45 s.

Each run counts what the SMTP server received: everyone exactly once, apart from at most
the in-flight window, and every duplicate the same message (one Message-ID).
"""

from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from publisher.config import Config
from publisher.db import open_database
from publisher.dev.catcher import Catcher
from publisher.sending import outbox
from publisher.sending.drain import options_from
from publisher.sending.flow import UNWRITTEN_MAX
from publisher.sending.send_issue import ready, run_send, start
from publisher.web.app import create_app
from publisher.web.state import WebState
from tests import web_client
from tests.cli import start_publisher
from tests.conftest import SEED_ISSUE, LiveServer
from tests.sending.faulty_smtp import FaultySMTP
from tests.sending.helpers import SECRETS, T0, bulk_confirmed, smtp_site, write_config_file
from tests.servers import PostgresServer, free_port, postgres_server
from tests.subscribers.helpers import one_offs_settled, web_config

Figure = Callable[[str], None]
POOL = 4
WINDOW = UNWRITTEN_MAX + POOL  # handed over and not yet written, at most, per process
SLUG = "2024-06-first-half"
CATCH_UP = "[sending]\nbatch_size = 50\ncatch_up_hours = 100000\n"  # the seed is from 2024


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    """A server of this module's own: these tests restart and stop it."""
    with postgres_server() as server:
        yield server


def delivered_total(server: FaultySMTP) -> int:
    return sum(list(server.delivered.values()))


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def duplicates_of(server: FaultySMTP, addresses: list[str]) -> int:
    """Extra copies received; asserts nobody was missed and every copy is the same message."""
    missed = [a for a in addresses if server.delivered[a] == 0]
    assert not missed, f"{len(missed)} subscribers got nothing, e.g. {missed[:3]}"
    extra = 0
    for address in addresses:
        if server.delivered[address] > 1:
            extra += server.delivered[address] - 1
            assert len(set(server.message_ids[address])) == 1, f"{address}: different messages"
    assert sum(server.delivered.values()) == len(addresses) + extra, "mail to a stranger"
    return extra


def all_sent(url: str, count: int) -> bool:
    """The outbox shows every row sent (False while the database cannot be read)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            value = conn.execute(sa.text("SELECT count(*) FROM deliveries WHERE status='sent'"))
            return int(value.scalar_one()) == count
    except sa.exc.DBAPIError:
        return False
    finally:
        engine.dispose()


FAULT_SQL = [  # in creation order
    "CREATE SEQUENCE fault_hits",
    "CREATE TABLE fault_plan (delivery_id integer, once boolean NOT NULL)",
    """CREATE FUNCTION fault_hits() RETURNS bigint LANGUAGE sql AS $$
      SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM fault_hits $$""",
    """CREATE FUNCTION injected_fault() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE plan record;
    BEGIN
      IF OLD.status = 'sending' AND NEW.status <> 'sending' THEN
        SELECT * INTO plan FROM fault_plan LIMIT 1;
        IF FOUND AND (plan.delivery_id IS NULL OR plan.delivery_id = NEW.id)
           AND (NOT plan.once OR fault_hits() = 0) THEN
          PERFORM nextval('fault_hits');
          RAISE EXCEPTION 'injected: terminating connection due to administrator command'
            USING ERRCODE = '57P01';
        END IF;
      END IF;
      RETURN NEW;
    END $$""",
    """CREATE TRIGGER injected_fault BEFORE UPDATE ON deliveries
       FOR EACH ROW EXECUTE FUNCTION injected_fault()""",
]


def audience_with_fault_trigger(pg: PostgresServer, name: str) -> tuple[str, Engine, list[str]]:
    """A new database with 3,000 confirmed subscribers and a trigger that fails the
    settling of delivery rows as `fault_plan` says; returns (url, engine, addresses)."""
    url = pg.create_database(name)
    engine = open_database(url)
    addresses = bulk_confirmed(engine, 3000)
    with engine.begin() as conn:
        for statement in FAULT_SQL:
            conn.execute(sa.text(statement))
    return url, engine, addresses


def fault_hits(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT fault_hits()")).scalar_one())


@pytest.mark.postgres
def test_a_result_write_that_fails_once_is_written_again_and_nobody_gets_two(
    pg: PostgresServer, seed_config: Config, report_figure: Figure
) -> None:
    url, engine, addresses = audience_with_fault_trigger(pg, "oneshot")
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO fault_plan VALUES (1500, true)"))
    with FaultySMTP(lambda r, a: "ok") as server:
        config = smtp_site(seed_config, server.port, database_url=url, pool_size=POOL)
        send_id = start(engine, config, ready(config, SEED_ISSUE), T0)
        counts = run_send(engine, config, SECRETS, send_id, lambda: T0, options_from(config))
    assert fault_hits(engine) == 1, "the injected fault fired once"
    assert counts["sent"] == 3000 and counts["sending"] == 0
    extra = duplicates_of(server, addresses)
    report_figure(f"one failed result write in a 3,000-subscriber send: {extra} duplicates")
    assert extra == 0


@pytest.mark.postgres
def test_while_results_cannot_be_written_no_mail_is_handed_over(
    pg: PostgresServer, seed_config: Config, report_figure: Figure
) -> None:
    url, engine, addresses = audience_with_fault_trigger(pg, "gate")
    with FaultySMTP(lambda r, a: "ok", delay=0.002) as server:
        config = smtp_site(seed_config, server.port, database_url=url, pool_size=POOL)
        send_id = start(engine, config, ready(config, SEED_ISSUE), T0)
        results: list[dict[str, int]] = []
        sender = threading.Thread(target=lambda: results.append(run_send(
            engine, config, SECRETS, send_id, lambda: T0, options_from(config))))
        sender.start()
        wait_until(lambda: delivered_total(server) >= 1000, 60, "1,000 deliveries")
        with engine.begin() as conn:  # every result write fails from now on
            conn.execute(sa.text("INSERT INTO fault_plan VALUES (NULL, false)"))
        armed = delivered_total(server)
        time.sleep(1.5)
        stalled = delivered_total(server)
        time.sleep(2.0)
        still = delivered_total(server)
        with engine.begin() as conn:
            conn.execute(sa.text("DELETE FROM fault_plan"))
        sender.join(120)
    report_figure(f"result writes failing for 3.5 s: {stalled - armed} handed over after "
                  f"the first failure (window {WINDOW}), {still - stalled} while failing")
    assert fault_hits(engine) >= 2, "the write was tried again while failing"
    assert still == stalled, "mail was handed to SMTP while results could not be written"
    assert stalled - armed <= WINDOW
    assert results and results[0]["sent"] == 3000
    assert duplicates_of(server, addresses) == 0


def _restart_at_random_point(pg: PostgresServer, server: FaultySMTP, rng: random.Random,
                             processes: list[subprocess.Popen[bytes]]) -> int:
    at = rng.randint(50, 700)
    wait_until(lambda: delivered_total(server) >= at
               or any(p.poll() is not None for p in processes), 120, f"{at} deliveries")
    pg.restart("fast")
    return at


def _run_kind(kind: str, pg: PostgresServer, folder: Path, run: int,
              rng: random.Random) -> tuple[int, int, int]:
    """One run of `kind` with a restart; returns (restart point, duplicates, processes)."""
    url = pg.create_database(f"{kind}{run}")
    engine = open_database(url)
    addresses = bulk_confirmed(engine, 1000, domain=f"{kind}{run}.example.net")
    engine.dispose()
    with FaultySMTP(lambda r, a: "ok", delay=0.002) as server:
        config_file = write_config_file(folder / f"{kind}{run}", server.port, url,
                                        CATCH_UP, pool_size=POOL)
        if kind == "send":
            processes = [start_publisher(config_file, "send", SLUG, "--yes")]
        elif kind == "daemon":
            processes = [start_publisher(config_file, "run", "--interval", "1")]
        else:
            processes = [start_publisher(config_file, "run", "--interval", "1"),
                         *(start_publisher(config_file, "run", "--worker", "--interval", "1")
                           for _ in range(3))]
        at = _restart_at_random_point(pg, server, rng, processes)
        if kind == "send":
            _, err = processes[0].communicate(timeout=180)
            assert processes[0].returncode == 0, err.decode()[-3000:]
        else:
            wait_until(lambda: all_sent(url, 1000), 180, "every row sent")
            for process in processes:
                assert process.poll() is None, process.communicate()[1].decode()[-3000:]
                process.send_signal(signal.SIGTERM)
            for process in processes:
                _, err = process.communicate(timeout=60)
                assert process.returncode == 0, err.decode()[-3000:]
        assert all_sent(url, 1000)
        return at, duplicates_of(server, addresses), len(processes)


@pytest.mark.timeout(900)
@pytest.mark.parametrize(("kind", "runs"), [("send", 10), ("daemon", 10), ("workers", 5)])
@pytest.mark.postgres
def test_postgres_restarted_at_random_points_kills_no_process_and_sends_each_once(
    pg: PostgresServer, tmp_path: Path, kind: str, runs: int, report_figure: Figure
) -> None:
    rng = random.Random(f"restart-{kind}")
    lines = []
    for run in range(runs):
        at, extra, processes = _run_kind(kind, pg, tmp_path, run, rng)
        lines.append(f"{kind} run {run}: restart after {at} deliveries, {extra} duplicates")
        assert extra <= WINDOW * processes
    for line in lines:
        report_figure(line)


def _events(log: str, name: str) -> list[dict[str, object]]:
    found = []
    for line in log.splitlines():
        if line.startswith("{") and f'"event": "{name}"' in line:
            found.append(json.loads(line))
    return found


@pytest.mark.postgres
def test_daemons_busy_and_idle_stay_up_through_30_seconds_without_postgres(
    pg: PostgresServer, tmp_path: Path, report_figure: Figure
) -> None:
    busy_url, idle_url = pg.create_database("busy"), pg.create_database("idle")
    engine = open_database(busy_url)
    addresses = bulk_confirmed(engine, 1500, domain="busy.example.net")
    engine.dispose()
    with FaultySMTP(lambda r, a: "ok", delay=0.002) as server:
        busy_config = write_config_file(tmp_path / "busy", server.port, busy_url,
                                        CATCH_UP, outage_seconds=5,
                                        pool_size=POOL)
        idle_config = write_config_file(tmp_path / "idle", server.port, idle_url,
                                        outage_seconds=5, pool_size=POOL)
        busy = start_publisher(busy_config, "run", "--interval", "1")
        idle = start_publisher(idle_config, "run", "--worker", "--interval", "1")
        wait_until(lambda: delivered_total(server) >= 300, 120, "300 deliveries")
        pg.stop("fast")
        stopped = time.monotonic()
        time.sleep(30)
        assert busy.poll() is None and idle.poll() is None, "a daemon died of the outage"
        pg.start()
        outage = time.monotonic() - stopped
        wait_until(lambda: all_sent(busy_url, 1500), 180, "the busy daemon to finish")
        for daemon in (busy, idle):
            assert daemon.poll() is None
            daemon.send_signal(signal.SIGTERM)
        logs = [daemon.communicate(timeout=60)[1].decode() for daemon in (busy, idle)]
    assert busy.returncode == 0 and idle.returncode == 0
    extra = duplicates_of(server, addresses)
    for name, log in zip(("busy", "idle"), logs, strict=True):
        down, back = _events(log, "database_unavailable"), _events(log, "database_back")
        assert down and back, f"{name} daemon: {log[-2000:]}"
        assert max(float(str(b["seconds"])) for b in back) >= 25
        assert "Traceback" not in log and "@busy.example.net" not in log
    report_figure(f"PostgreSQL stopped for {outage:.0f} s: both daemons stayed up; the busy "
                  f"one finished with {extra} duplicates")
    assert extra <= WINDOW


def hold_sqlite_write_lock(path: Path, seconds: float, taken: threading.Event) -> None:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
    taken.set()
    time.sleep(seconds)
    connection.execute("ROLLBACK")
    connection.close()


@pytest.mark.slow  # holds a SQLite lock for 45 s by design; no server
def test_a_sqlite_lock_held_45_seconds_gives_up_in_one_line_or_waits_and_resumes(
    tmp_path: Path, report_figure: Figure
) -> None:
    path = tmp_path / "publisher.db"
    url = f"sqlite:///{path}"
    engine = open_database(url)
    addresses = bulk_confirmed(engine, 1500)
    engine.dispose()
    with FaultySMTP(lambda r, a: "ok", delay=0.002) as server:
        impatient = write_config_file(tmp_path / "impatient", server.port, url,
                                      CATCH_UP, outage_seconds=10,
                                      pool_size=POOL)
        patient = write_config_file(tmp_path / "patient", server.port, url,
                                    CATCH_UP, pool_size=POOL)
        first = start_publisher(impatient, "send", SLUG, "--yes")
        wait_until(lambda: delivered_total(server) >= 200, 120, "200 deliveries")
        taken = threading.Event()
        locker = threading.Thread(target=hold_sqlite_write_lock, args=(path, 45, taken))
        locker.start()
        taken.wait(10)
        locked_at = time.monotonic()
        _, err = first.communicate(timeout=120)
        gave_up_after = time.monotonic() - locked_at
        message = err.decode()
        assert first.returncode == 75, message[-3000:]
        assert "database is locked by another process" in message
        assert "nothing was lost, run the same command again to resume" in message
        assert "Traceback" not in message and "@example.net" not in message
        assert locker.is_alive(), "the give-up should come while the lock is still held"
        second = start_publisher(patient, "send", SLUG, "--yes")
        _, err = second.communicate(timeout=180)
        waited = time.monotonic() - locked_at
        locker.join()
        assert second.returncode == 0, err.decode()[-3000:]
    extra = duplicates_of(server, addresses)
    report_figure(f"SQLite write lock held 45 s: outage_seconds=10 gave up after "
                  f"{gave_up_after:.0f} s with one line; the rerun waited and finished "
                  f"{waited:.0f} s after the lock was taken; {extra} duplicates")
    assert extra <= WINDOW
    engine = open_database(url)
    assert outbox.counts(engine, 1)["sent"] == 1500


@pytest.mark.postgres
def test_a_subscribe_while_postgres_is_down_answers_503_and_stores_nothing(
    pg: PostgresServer, seed_config: Config, tmp_path: Path
) -> None:
    url = pg.create_database("web")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with Catcher(tmp_path / "Maildir") as catcher:
        config = web_config(seed_config, base, catcher.port, url)
        app = create_app(WebState(config, SECRETS))
        form = {"email": "reader@example.org", "name": "读者"}
        with LiveServer(app, port):
            pg.stop("fast")
            try:
                down = web_client.post(base + "/subscribe", data=form, headers={"Origin": base})
            finally:
                pg.start()
            up = web_client.post(base + "/subscribe", data=form, headers={"Origin": base})
            outbox_engine = open_database(url)  # the mail goes out after the answer
            wait_until(lambda: one_offs_settled(outbox_engine), 30, "the confirmation mail")
        received = len(catcher.messages())
    assert down.status_code == 503 and down.headers["Retry-After"] == "60"
    assert "暂时无法处理" in down.text and "reader@example.org" not in down.text
    assert up.status_code == 303 and received == 1  # redirected to the "check your inbox" page
    engine = open_database(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT status FROM subscribers")).scalars().all()
    assert rows == ["pending"]
