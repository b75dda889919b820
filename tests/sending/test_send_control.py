"""Pause, resume and cancel from another process, as an operator does it: the real CLI in
subprocesses, a real SMTP server on loopback (slowed a little so a send takes seconds),
SQLite and PostgreSQL. Counted on the server: every subscriber exactly once, nothing after
a pause has settled, nothing ever to a row the cancel took."""

from __future__ import annotations

import json
import logging
import signal
import subprocess
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
from publisher.db import deliveries, open_database
from publisher.sending import control, oneoff, outbox
from publisher.sending.drain import DrainOptions
from publisher.sending.send_issue import ready, run_send, start
from publisher.subscribers import store
from tests.cli import run_publisher, run_publisher_here, start_publisher
from tests.conftest import SEED_ISSUE
from tests.sending.faulty_smtp import FaultySMTP
from tests.sending.helpers import (
    SECRETS,
    T0,
    bulk_confirmed,
    database,
    smtp_site,
    wait_until,
    write_config_file,
)

SLUG = "2024-06-first-half"
BATCH = 25
POOL = 4
# Rows one process holds claimed and unsettled at most: a batch being built, the queue of
# built messages, results not yet written, one transaction per connection. Only these can
# be delivered after a pause or cancel is committed, or twice after a SIGKILL.
WINDOW = 2 * BATCH + 64 + 64 + POOL


class TimedCounter(Counter[str]):
    """The SMTP server's `delivered`, also noting when each message was accepted."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[tuple[float, str]] = []

    def __setitem__(self, key: str, value: int) -> None:
        self.times.append((time.monotonic(), key))
        super().__setitem__(key, value)

    def after(self, moment: float) -> list[str]:
        return [address for at, address in self.times if at > moment]


@dataclass
class Site:
    """A site on one database sending to one SMTP server, driven through the real CLI."""

    config: Path
    engine: sa.Engine
    server: FaultySMTP
    delivered: TimedCounter

    def run(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        """A command that runs to its end, in this process: these tests are about the
        sender that `start` runs in a process of its own, and what reaches it."""
        return run_publisher_here(self.config, *args, stdin=stdin)

    def run_apart(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A command in a process of its own, run to its end: its stderr holds its log."""
        return run_publisher(self.config, *args, timeout=120)

    def start(self, *args: str) -> subprocess.Popen[str]:
        return start_publisher(self.config, *args, text=True)

    def total(self) -> int:
        return sum(self.delivered.values())

    def wait_for(self, condition: Callable[[], bool], seconds: float = 60) -> None:
        wait_until(condition, seconds)

    def states(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(deliveries.c.status, sa.func.count())
                                .group_by(deliveries.c.status)).all()
        return {str(status): int(n) for status, n in rows}

    def addresses(self, status: str, reply: str | None = None) -> set[str]:
        query = sa.select(deliveries.c.email).where(deliveries.c.status == status)
        if reply is not None:
            query = query.where(deliveries.c.last_reply == reply)
        with self.engine.connect() as conn:
            return set(conn.execute(query).scalars())


def status_cell(table: str, column: str) -> str:
    """One cell of the send's row in `publisher status ISSUE`'s table."""
    lines = table.splitlines()
    header = next(line for line in lines if f" {column} " in line)
    row = next(line for line in lines if SLUG in line)
    names = [cell.strip() for cell in header.replace("┃", "│").split("│")]
    return [cell.strip() for cell in row.split("│")][names.index(column)]


@contextmanager
def make_site(tmp_path: Path, url: str, delay: float) -> Iterator[Site]:
    """The repo's site on `url`, sending to a FaultySMTP that takes `delay` per message."""
    with FaultySMTP(lambda r, a: "ok", delay=delay) as server:
        server.delivered = delivered = TimedCounter()
        config = write_config_file(tmp_path, server.port, url,
                                   f"[sending]\nbatch_size = {BATCH}\n"
                                   "catch_up_hours = 100000\n", pool_size=POOL)
        yield Site(config, open_database(url), server, delivered)


@pytest.fixture
def site(tmp_path: Path, database_url: str) -> Iterator[Site]:
    with make_site(tmp_path, database_url, delay=0.01) as made:
        yield made


@pytest.mark.waits
def test_a_pause_stops_a_running_send_and_resume_sends_each_rest_exactly_once(
        site: Site, report_figure: Callable[[str], None]) -> None:
    addresses = bulk_confirmed(site.engine, 2000)
    sender = site.start("send", SLUG, "--yes")
    site.wait_for(lambda: site.total() >= 300)
    asked = time.monotonic()
    paused = site.run("pause", SLUG)
    acknowledged = time.monotonic()
    stdout, stderr = sender.communicate(timeout=30)  # it leaves on its own
    stopped = time.monotonic()
    at_exit = site.total()
    time.sleep(2)
    assert site.total() == at_exit, "nothing may arrive once the sender has settled"
    late = site.delivered.after(acknowledged)
    after_pause = site.states()
    refused = site.run("send", SLUG, "--yes")
    resumed = site.run("resume", SLUG)
    rest = site.run("send", SLUG, "--yes")

    assert paused.returncode == 0, paused.stderr
    assert paused.stdout.startswith(f"paused {SLUG}: ") and f"`publisher resume {SLUG}`" in \
        paused.stdout
    assert sender.returncode == 0, stderr[-2000:]
    assert f"{SLUG} is paused: {at_exit} sent, {2000 - at_exit} left" in stdout
    assert after_pause == {"sent": at_exit, "queued": 2000 - at_exit}, "claims were released"
    assert len(late) <= WINDOW
    assert refused.returncode == 1 and f"{SLUG} is paused" in refused.stderr
    assert resumed.returncode == 0 and resumed.stdout.startswith(f"resumed {SLUG}: ")
    assert rest.returncode == 0, rest.stderr[-2000:]
    assert "sent=2000" in rest.stdout
    assert site.delivered == Counter(dict.fromkeys(addresses, 1)), "each exactly once"
    assert all(len(set(site.server.message_ids[a])) == 1 for a in addresses)
    report_figure(f"pause ({site.engine.dialect.name}): `publisher pause` took "
                  f"{acknowledged - asked:.1f} s, the sender left {stopped - acknowledged:.1f} s"
                  f" later; {len(late)} delivered after the pause returned")


@pytest.mark.waits
def test_a_cancel_is_final_and_shown_and_nothing_restarts_it(
        site: Site, report_figure: Callable[[str], None]) -> None:
    addresses = bulk_confirmed(site.engine, 2000)
    site.server.delay = 0.03
    sender = site.start("send", SLUG, "--yes")
    site.wait_for(lambda: site.total() >= 200)
    # From here each message takes a second, so the rest of the send outlasts the two cancel
    # commands however slow the machine is: the cancel always lands mid-send.
    site.server.delay = 1.0
    declined = site.run("cancel", SLUG, stdin="n\n")
    cancelled = site.run("cancel", SLUG, "--yes")
    acknowledged = time.monotonic()
    stdout, stderr = sender.communicate(timeout=30)
    final = site.states()
    taken = site.addresses("cancelled", control.CANCELLED_REPLY)
    late = site.delivered.after(acknowledged)
    status = site.run("status", SLUG)
    again = site.run("send", SLUG, "--yes")
    retried = site.run("retry", SLUG)
    paused = site.run("pause", SLUG)
    daemon = site.run("run", "--once")  # the seed issue is due: the scheduler must leave it

    assert declined.returncode == 1 and "Cancel 2024-06-first-half for good?" in declined.stdout
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout.startswith(f"cancelled {SLUG}: ")
    assert sender.returncode == 0, stderr[-2000:]
    assert f"{SLUG} was cancelled (final)" in stdout
    assert set(final) == {"sent", "cancelled"}, final
    assert final["sent"] == site.total() and len(taken) == final["cancelled"] > 0
    assert not taken & set(site.delivered), "a cancelled row was delivered"
    assert len(late) <= WINDOW and not set(late) & taken
    assert status_cell(status.stdout, "cancelled") == str(final["cancelled"])
    assert again.returncode == 1 and "was cancelled (final)" in again.stderr
    assert retried.returncode == 1 and "was cancelled (final)" in retried.stderr
    assert paused.returncode == 1 and f"{SLUG} is cancelled" in paused.stderr
    assert daemon.returncode == 0, daemon.stderr[-2000:]
    assert site.states() == final and outbox.send_slugs(site.engine) == {SLUG}
    assert site.total() == final["sent"] and max(site.delivered.values()) == 1
    assert set(site.delivered) | taken == set(addresses)
    report_figure(f"cancel ({site.engine.dialect.name}): {final['sent']} sent, "
                  f"{final['cancelled']} cancelled, {len(late)} delivered after the ack")


def test_pausing_what_cannot_be_paused_names_the_issue_and_its_state(site: Site) -> None:
    bulk_confirmed(site.engine, 3)
    never = site.run("pause", SLUG)
    sent = site.run("send", SLUG, "--yes")
    done = site.run("pause", SLUG)
    resumed = site.run("resume", SLUG)
    assert never.returncode == 1 and f"{SLUG}: this issue has not been sent" in never.stderr
    assert sent.returncode == 0, sent.stderr
    assert done.returncode == 1 and f"{SLUG} is done: only a sending send" in done.stderr
    assert resumed.returncode == 1 and f"{SLUG} is done: only a paused send" in resumed.stderr


def test_a_running_send_logs_its_progress_at_a_steady_interval(
        seed_config: Config, caplog: pytest.LogCaptureFixture) -> None:
    with FaultySMTP(lambda r, a: "ok", delay=0.01) as server:
        config = smtp_site(seed_config, server.port, pool_size=2)
        engine = database(config)
        bulk_confirmed(engine, 300)
        send_id = start(engine, config, ready(config, SEED_ISSUE), T0)
        with caplog.at_level(logging.INFO, logger="publisher"):
            run_send(engine, config, SECRETS, send_id, lambda: T0,
                     DrainOptions(batch_size=BATCH, progress_log_seconds=0.3))
    lines = [json.loads(r.getMessage()) for r in caplog.records
             if '"send_progress"' in r.getMessage()]
    assert len(lines) >= 3, "a send of a few seconds logs several progress lines"
    assert {"at", "issue", "sent", "failed", "deferred", "cancelled", "remaining",
            "rate"} <= set(lines[0])
    assert lines[0]["issue"] == SLUG
    sent = [line["sent"] for line in lines]
    assert sent == sorted(sent) and sent[-1] > sent[0]
    assert all(line["sent"] + line["remaining"] == 300 for line in lines)
    assert all(line["rate"] > 0 for line in lines[1:-1])


def test_send_wait_returns_when_its_send_is_paused_while_it_waits_for_a_deferred_row(
        seed_config: Config) -> None:
    with FaultySMTP(lambda r, a: "451" if r == "u0@example.net" else "ok") as server:
        config = smtp_site(seed_config, server.port, backoff_base_seconds=3600)
        engine = database(config)
        bulk_confirmed(engine, 50)
        send_id = start(engine, config, ready(config, SEED_ISSUE), T0)
        result: list[dict[str, int]] = []
        waiting = threading.Thread(target=lambda: result.append(run_send(
            engine, config, SECRETS, send_id, utc_now, DrainOptions(wait_for_deferred=True))))
        waiting.start()
        deadline = time.monotonic() + 30
        while outbox.counts(engine, send_id)["sent"] < 49 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert control.pause(engine, send_id, T0)
        waiting.join(timeout=20)
    assert not waiting.is_alive(), "send --wait must leave a paused send, not wait for it"
    assert result[0]["sent"] == 49 and result[0]["deferred"] == 1
    assert control.send_state(engine, send_id) == outbox.SEND_PAUSED


def claimers(site: Site) -> int:
    """How many processes hold claimed rows right now."""
    with site.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count(sa.distinct(deliveries.c.claimed_by)))
                                .where(deliveries.c.status == "sending")).scalar_one())


def daemons(site: Site) -> list[subprocess.Popen[str]]:
    """A scheduler and two workers, ticking every second."""
    return [site.start("run", "--interval", "1"),
            *(site.start("run", "--worker", "--interval", "1") for _ in range(2))]


def stopped(processes: list[subprocess.Popen[str]]) -> list[str]:
    """SIGTERM each daemon; their logs."""
    for process in processes:
        process.send_signal(signal.SIGTERM)
    logs = []
    for process in processes:
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr[-2000:]
        logs.append(stderr)
    return logs


@pytest.mark.postgres
def test_a_scheduler_and_two_workers_honour_a_pause_across_their_restart(
        tmp_path: Path, postgres_url: str, report_figure: Callable[[str], None]) -> None:
    with open_database(postgres_url).begin() as conn:
        conn.execute(sa.text("TRUNCATE deliveries, sends, subscribers RESTART IDENTITY CASCADE"))
    with make_site(tmp_path, postgres_url, delay=0.04) as site:
        addresses = bulk_confirmed(site.engine, 2000)
        first = daemons(site)
        site.wait_for(lambda: claimers(site) == 3)  # all three are draining the send
        paused = site.run("pause", SLUG)
        site.wait_for(lambda: "sending" not in site.states(), seconds=30)
        settled = site.total()
        time.sleep(3)  # three more ticks of every daemon
        still = site.total()
        logs = stopped(first)
        second = daemons(site)
        time.sleep(3)
        after_restart = site.total()
        state = control.send_state(site.engine, 1)
        resumed = site.run("resume", SLUG)
        site.wait_for(lambda: site.states() == {"sent": 2000}, seconds=60)
        stopped(second)
    assert paused.returncode == 0, paused.stderr
    assert 0 < settled < 2000 and still == settled == after_restart, "sent while paused"
    assert state == outbox.SEND_PAUSED
    assert resumed.returncode == 0, resumed.stderr
    saw = [log for log in logs if '"send_paused"' in log]
    assert len(saw) == 3, "every daemon that drained the send logs the pause:\n" + "\n".join(logs)
    assert sum('"send_started"' in log for log in logs) == 1
    assert site.delivered == Counter(dict.fromkeys(addresses, 1)), "each exactly once"
    report_figure(f"pause seen by 3 daemons on PostgreSQL: {settled} sent before, "
                  f"{2000 - settled} after the resume and a restart")


def killed_mid_send(site: Site, control: Callable[[], object]) -> tuple[float, dict[str, int]]:
    """Start `publisher send`, let 300 arrive, run `control` (a pause or a cancel committed
    in this process, before the sender can notice) and SIGKILL the sender at once.
    Returns when the control was acknowledged and the rows' states after the kill."""
    sender = site.start("send", SLUG, "--yes")
    site.wait_for(lambda: site.total() >= 300)
    control()
    acknowledged = time.monotonic()
    sender.send_signal(signal.SIGKILL)
    sender.wait(timeout=30)
    assert sender.returncode == -signal.SIGKILL
    return acknowledged, site.states()


@pytest.mark.waits
def test_a_sender_killed_right_after_a_pause_resumes_with_nobody_missed_or_sent_twice(
        site: Site, report_figure: Callable[[str], None]) -> None:
    addresses = bulk_confirmed(site.engine, 2000)
    _, at_kill = killed_mid_send(site, lambda: control.pause(site.engine, 1, T0))
    time.sleep(0.5)  # the server finishes what was on the wire at the kill
    delivered = site.total()
    restarted = site.run("run", "--once")  # a daemon restarted while the send is paused
    still_paused, after_restart = site.states(), site.total()
    resumed = site.run("resume", SLUG)
    finished = site.run("run", "--once")

    assert at_kill.get("sending", 0) > 0, "the kill should leave claimed rows behind"
    assert restarted.returncode == 0, restarted.stderr[-2000:]
    assert still_paused == at_kill and after_restart == delivered, "a paused send was drained"
    assert resumed.returncode == 0 and finished.returncode == 0, finished.stderr[-2000:]
    assert site.states() == {"sent": 2000}
    assert all(site.delivered[a] >= 1 for a in addresses), "someone was missed"
    twice = {a: n for a, n in site.delivered.items() if n > 1}
    assert sum(n - 1 for n in twice.values()) <= WINDOW, "only the in-flight window repeats"
    assert all(len(set(site.server.message_ids[a])) == 1 for a in twice)
    report_figure(f"SIGKILL after a pause ({site.engine.dialect.name}): "
                  f"{at_kill['sending']} rows left claimed, {len(twice)} sent twice after the "
                  f"resume (same Message-ID)")


def test_a_sender_killed_while_its_send_is_cancelled_sends_nothing_more(
        site: Site, report_figure: Callable[[str], None]) -> None:
    addresses = bulk_confirmed(site.engine, 2000)
    acknowledged, at_kill = killed_mid_send(site, lambda: control.cancel(site.engine, 1, T0))
    time.sleep(0.5)  # the server finishes what was on the wire at the kill
    delivered = site.total()
    late = site.delivered.after(acknowledged)
    restarted = site.run_apart("run", "--once")  # settles the dead sender's rows
    final = site.states()
    taken = site.addresses("cancelled", control.CANCELLED_REPLY)
    lost = site.addresses("cancelled", control.LOST_REPLY)

    assert at_kill.get("sending", 0) > 0, "the kill should leave claimed rows behind"
    assert restarted.returncode == 0, restarted.stderr[-2000:]
    assert '"cancelled_rows_settled"' in restarted.stderr
    assert site.total() == delivered, "nothing is delivered after the cancel's restart"
    assert set(final) == {"sent", "cancelled"}, final
    assert len(lost) == at_kill["sending"], "a dead sender's claims are settled as cancelled"
    assert not taken & set(site.delivered), "a row the cancel took was delivered"
    assert len(late) <= WINDOW and set(late) <= lost | site.addresses("sent")
    assert set(site.delivered) <= set(addresses) and max(site.delivered.values()) == 1
    report_figure(f"SIGKILL during a cancel ({site.engine.dialect.name}): {len(late)} "
                  f"delivered after the ack (in flight), {len(lost)} claimed rows cancelled as "
                  f"'may have been delivered'")


def test_the_standing_send_of_confirmation_mails_cannot_be_paused_or_cancelled(
        site: Site) -> None:
    config = load_config(site.config.parent, site.config)
    with site.engine.begin() as conn:
        reader, _created = store.add(conn, "waiting@example.org", "", store.PENDING,
                           store.Consent("form", utc_now()), utc_now())
        oneoff.enqueue_confirmation(conn, config, reader, utc_now())
    answers = [site.run(verb, oneoff.CONFIRM, *extra)
               for verb, *extra in (("pause",), ("cancel", "--yes"), ("resume",))]
    for answer in answers:
        assert answer.returncode == 1, answer.stdout
        assert (f"{oneoff.CONFIRM}: the one-off mails (confirmations) are not a send to "
                "steer") in answer.stderr, answer.stderr
    assert control.send_state(site.engine, outbox.find_send(site.engine, oneoff.CONFIRM)
                              or 0) == outbox.SEND_ACTIVE


def test_the_control_functions_every_caller_uses_leave_the_standing_send_alone(
        site: Site) -> None:
    config = load_config(site.config.parent, site.config)
    with site.engine.begin() as conn:
        reader, _created = store.add(conn, "waiting@example.org", "", store.PENDING,
                                     store.Consent("form", utc_now()), utc_now())
        oneoff.enqueue_confirmation(conn, config, reader, utc_now())
    send_id = outbox.find_send(site.engine, oneoff.CONFIRM)
    assert send_id is not None
    assert control.pause(site.engine, send_id, utc_now()) is False  # the console's call too
    assert control.cancel(site.engine, send_id, utc_now()) is None
    assert control.send_state(site.engine, send_id) == outbox.SEND_ACTIVE
    assert outbox.counts(site.engine, send_id)["queued"] == 1
