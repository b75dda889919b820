"""Sending through sender processes, the default (one per core): this process owns the
outbox and hands rows to two children that build and send. A real SMTP server on loopback,
SQLite; counted on the server: every subscriber exactly once, nothing handed over once a
pause, a cancel or a failing write says stop."""

from __future__ import annotations

import json
import logging
import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from publisher.clock import utc_now
from publisher.config import Config, load_config
from publisher.db import deliveries
from publisher.sending import control
from publisher.sending.drain import DrainOptions, options_from
from publisher.sending.flow import BUILD_AHEAD, UNWRITTEN_MAX
from publisher.sending.send_issue import ready, run_send, start
from publisher.sending.sender_processes import MAX_RESTARTS
from tests.conftest import SEED_ISSUE, SITE
from tests.sending.faulty_smtp import FaultySMTP
from tests.sending.helpers import SECRETS, T0, bulk_confirmed, database, smtp_site, wait_until
from tests.sending.test_database_faults import hold_sqlite_write_lock
from tests.sending.test_send_control import TimedCounter

Figure = Callable[[str], None]
POOL = 4
BATCH = 25
# Rows claimed and unsettled at most (the batch being queued, the queue, the rows at the
# senders or waiting for their write): only these can arrive after a pause or cancel.
CLAIMED = 2 * BATCH + BUILD_AHEAD + UNWRITTEN_MAX + POOL


@dataclass
class Drain:
    """A send of `count` subscribers drained in a thread with two sender processes."""

    config: Config
    engine: sa.Engine
    server: FaultySMTP
    delivered: TimedCounter
    addresses: list[str]
    send_id: int
    results: list[dict[str, int]]
    thread: threading.Thread | None = None

    def run(self, processes: int = 2) -> None:
        options = options_from(self.config, sender_processes=processes, batch_size=BATCH)
        self.thread = threading.Thread(target=lambda: self.results.append(run_send(
            self.engine, self.config, SECRETS, self.send_id, utc_now, options)))
        self.thread.start()

    def total(self) -> int:
        return sum(self.delivered.values())

    def wait_for(self, condition: Callable[[], bool], seconds: float = 60) -> None:
        wait_until(condition, seconds)

    def join(self) -> float:
        """Wait for the drain to return; how long that took."""
        began = time.monotonic()
        assert self.thread is not None
        self.thread.join(60)
        assert not self.thread.is_alive(), "the drain did not return"
        return time.monotonic() - began

    def states(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(deliveries.c.status, sa.func.count())
                                .group_by(deliveries.c.status)).all()
        return {str(status): int(n) for status, n in rows}


@contextmanager
def draining(seed_config: Config, count: int, delay: float) -> Iterator[Drain]:
    with FaultySMTP(lambda r, a: "ok", delay=delay) as server:
        server.delivered = delivered = TimedCounter()
        config = smtp_site(seed_config, server.port, pool_size=POOL)
        engine = database(config)
        addresses = bulk_confirmed(engine, count)
        send_id = start(engine, config, ready(config, SEED_ISSUE), T0)
        yield Drain(config, engine, server, delivered, addresses, send_id, [])


def events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, object]]:
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "publisher"]
    return [line for line in lines if line["event"] == name]


def test_the_default_is_one_sender_process_per_core_and_a_bare_drain_sends_itself() -> None:
    seed_site = load_config(SITE)  # as shipped: seed_config sends from the test's process
    assert seed_site.settings.sending.sender_processes is None
    assert options_from(seed_site).sender_processes == os.cpu_count()
    assert DrainOptions().sender_processes == 0


def test_two_sender_processes_send_each_subscriber_once_and_log_what_each_sent(
        seed_config: Config, caplog: pytest.LogCaptureFixture, report_figure: Figure) -> None:
    with draining(seed_config, 600, delay=0.0) as drain, \
            caplog.at_level(logging.INFO, logger="publisher"):
        began = time.monotonic()
        drain.run()
        drain.join()
        took = time.monotonic() - began
    assert drain.results[0]["sent"] == 600
    assert drain.delivered == Counter(dict.fromkeys(drain.addresses, 1))
    assert len({ids[0] for ids in drain.server.message_ids.values()}) == 600
    started = events(caplog, "sender_started")
    stopped = events(caplog, "sender_stopped")
    assert sorted(str(line["index"]) for line in started) == ["0", "1"]
    assert {(line["index"], line["pid"]) for line in stopped} == \
        {(line["index"], line["pid"]) for line in started}
    assert sum(int(str(line["sent"])) for line in stopped) == 600
    peaks = [float(str(line["peak_rss_mb"])) for line in stopped]
    assert all(10 < peak < 150 for peak in peaks), peaks
    assert not events(caplog, "sender_lost")
    report_figure(f"two sender processes: 600 messages in {took:.1f} s (both started "
                  f"within it); peak RSS of each {', '.join(f'{p:.0f} MB' for p in peaks)}")


@pytest.mark.waits
def test_a_pause_stops_the_hand_over_to_two_senders_and_resume_sends_the_rest_once(
        seed_config: Config, report_figure: Figure) -> None:
    with draining(seed_config, 1500, delay=0.01) as drain:
        drain.run()
        drain.wait_for(lambda: drain.total() >= 200)
        assert control.pause(drain.engine, drain.send_id, utc_now())
        paused = time.monotonic()
        left_after = drain.join()
        at_exit = drain.total()
        time.sleep(1)
        late = drain.delivered.after(paused)
        after_pause = drain.states()
        assert drain.total() == at_exit, "nothing may arrive once the drain has returned"
        assert control.resume(drain.engine, drain.send_id)
        drain.run()
        drain.join()
    assert after_pause == {"sent": at_exit, "queued": 1500 - at_exit}, "claims were released"
    assert len(late) <= CLAIMED
    assert left_after < 10, "the senders stop promptly"
    assert drain.results[-1]["sent"] == 1500
    assert drain.delivered == Counter(dict.fromkeys(drain.addresses, 1)), "each exactly once"
    report_figure(f"pause with two sender processes: the drain returned {left_after:.1f} s "
                  f"after it; {len(late)} delivered after it (claimed at most {CLAIMED})")


def test_a_cancel_stops_two_senders_and_no_cancelled_row_is_delivered(
        seed_config: Config) -> None:
    with draining(seed_config, 1500, delay=0.01) as drain:
        drain.run()
        drain.wait_for(lambda: drain.total() >= 200)
        assert control.cancel(drain.engine, drain.send_id, utc_now()) is not None
        cancelled = time.monotonic()
        left_after = drain.join()
        time.sleep(1)
        final = drain.states()
        late = drain.delivered.after(cancelled)
        with drain.engine.connect() as conn:
            taken = set(conn.execute(sa.select(deliveries.c.email).where(
                deliveries.c.status == "cancelled")).scalars())
    assert set(final) == {"sent", "cancelled"}, final
    assert final["sent"] == drain.total() and len(taken) == final["cancelled"] > 0
    assert not taken & set(drain.delivered), "a cancelled row was delivered"
    assert len(late) <= CLAIMED and left_after < 10
    assert max(drain.delivered.values()) == 1


@pytest.mark.waits
def test_while_sqlite_is_locked_two_senders_hand_nothing_over_then_finish_each_once(
        seed_config: Config, report_figure: Figure) -> None:
    with draining(seed_config, 1500, delay=0.005) as drain:
        drain.run()
        drain.wait_for(lambda: drain.total() >= 200)
        taken = threading.Event()
        path = Path(drain.config.database_url.removeprefix("sqlite:///"))
        locker = threading.Thread(target=hold_sqlite_write_lock, args=(path, 4.0, taken))
        locker.start()
        assert taken.wait(10)
        armed = drain.total()
        time.sleep(1.5)
        stalled = drain.total()
        time.sleep(2.0)
        still = drain.total()
        locker.join()
        drain.join()
    report_figure(f"SQLite locked 4 s under two sender processes: {stalled - armed} handed "
                  f"over after the lock (window {UNWRITTEN_MAX + POOL}), {still - stalled} "
                  "while locked")
    assert still == stalled, "mail was handed to SMTP while results could not be written"
    assert stalled - armed <= UNWRITTEN_MAX + POOL
    assert drain.results[0]["sent"] == 1500
    assert drain.delivered == Counter(dict.fromkeys(drain.addresses, 1))


class Killer(logging.Handler):
    """SIGKILLs every sender process as soon as its `sender_started` line is logged."""

    def __init__(self) -> None:
        super().__init__()
        self.killed: list[int] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = json.loads(record.getMessage())
        if line["event"] == "sender_started":
            os.kill(int(line["pid"]), signal.SIGKILL)
            self.killed.append(int(line["pid"]))


def test_senders_that_keep_dying_release_their_rows_and_a_rerun_sends_everyone(
        seed_config: Config, caplog: pytest.LogCaptureFixture) -> None:
    killer = Killer()
    publisher = logging.getLogger("publisher")
    with draining(seed_config, 300, delay=0.005) as drain, \
            caplog.at_level(logging.INFO, logger="publisher"):
        publisher.addHandler(killer)
        try:
            drain.run(processes=1)
            drain.join()
        finally:
            publisher.removeHandler(killer)
        stranded = drain.states()
        rest = run_send(drain.engine, drain.config, SECRETS, drain.send_id, utc_now,
                        DrainOptions())
    assert len(killer.killed) == 1 + MAX_RESTARTS
    assert len(events(caplog, "sender_lost")) == 1 + MAX_RESTARTS
    assert events(caplog, "senders_failed")
    assert "sending" not in stranded, "every claimed row was released"
    assert rest["sent"] == 300
    assert set(drain.delivered) == set(drain.addresses)
