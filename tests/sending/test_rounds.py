"""A busy daemon still schedules: while a welcome wave of thousands drains, an issue that
falls due starts within one round, a resumed send gets its first message within one round,
a new subscriber is enrolled within one round, and the sends share the connections.

The real `publisher run --interval 2` (and, on PostgreSQL, a worker beside it) against a
real SMTP server on loopback, throttled by `[smtp] rate_per_second` so that the wave lasts
well over a minute without loading the machine; every figure is read from the database.
In process: one round stops when its time is up and says whether another should follow
at once, and stops asking for one when nothing is left.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from publisher.clock import utc_now
from publisher.config import Config, load_config
from publisher.db import deliveries, open_database, sends
from publisher.sending import control, outbox
from publisher.sending.daemon import Daemon
from publisher.sending.send_issue import ready, start
from tests.automations.helpers import confirm_at
from tests.cli import CLI_ENV, cli_command
from tests.conftest import DATA, POSTGRESQL
from tests.sending.faulty_smtp import FaultySMTP
from tests.sending.helpers import SECRETS, add_confirmed, smtp_site, wait_until, write_config_file

ROUNDS = DATA / "rounds"
INTERVAL = 2.0
RATE = 100  # messages per second: the wave of WAVE welcomes takes a minute and a half
WAVE = 9000
BOUND = 12.0  # seconds: one round (INTERVAL, the batch in hand, a busy machine's slack)


def site(folder: Path, smtp_port: int, database_url: str) -> Path:
    """A site whose issues and automations are copies of tests/data/rounds."""
    shutil.copytree(ROUNDS, folder / "content")
    extra = "[sending]\nsender_processes = 0\nbatch_size = 100\n"
    config = write_config_file(folder, smtp_port, database_url, extra,
                               rate_per_second=RATE, pool_size=4)
    text = config.read_text(encoding="utf-8")
    repo_issues = next(line for line in text.splitlines() if line.startswith("issues = "))
    config.write_text(text.replace(repo_issues, (
        f'issues = "{folder / "content" / "issues"}"\n'
        f'automations = "{folder / "content" / "automations"}"')), encoding="utf-8")
    return config


def first_sent(engine: Engine, slug: str) -> datetime | None:
    """When the first row of the send of `slug` was sent (None: none yet)."""
    earliest = sa.func.min(deliveries.c.updated_at, type_=deliveries.c.updated_at.type)
    with engine.connect() as conn:
        found = conn.execute(sa.select(earliest)
                             .join(sends, sends.c.id == deliveries.c.send_id)
                             .where(sends.c.issue_slug == slug,
                                    deliveries.c.status == "sent")).scalar()
    return found if isinstance(found, datetime) else None


def sent_count(engine: Engine, slug: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(deliveries)
                                .join(sends, sends.c.id == deliveries.c.send_id)
                                .where(sends.c.issue_slug == slug,
                                       deliveries.c.status == "sent")).scalar_one())


def enrolled(engine: Engine, address: str) -> bool:
    with engine.connect() as conn:
        return conn.execute(sa.select(deliveries.c.id).join(sends, sends.c.id ==
                                                            deliveries.c.send_id)
                            .where(sends.c.kind == "automation",
                                   deliveries.c.email == address)).first() is not None


def started_logging(command: list[str], log: Path) -> subprocess.Popen[bytes]:
    """`command` started with its stderr (the JSON log lines) going to `log`; the child
    keeps the file open, this process does not."""
    with log.open("wb") as stderr:
        return subprocess.Popen(command, env=CLI_ENV, stderr=stderr)


def daemon_log(files: list[Path], since: datetime, until: datetime) -> str:
    """The daemons' JSON log lines between two moments, in time order, each after its
    file's name: what the rounds did when a figure is late."""
    found = []
    for path in (path for path in files if path.exists()):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                at = datetime.fromisoformat(json.loads(line)["at"])
            except (ValueError, KeyError, TypeError):
                continue  # a traceback or warning line
            if since <= at <= until:
                found.append((at, f"{path.stem}: {line}"))
    return "\n".join(line for _, line in sorted(found))


def seconds_until(condition_time: datetime | None, since: datetime) -> float:
    assert condition_time is not None
    return (condition_time - since).total_seconds()


# The wave takes a minute and a half by design (WAVE at RATE): slow on SQLite too.
@pytest.mark.parametrize("database_url", [pytest.param("sqlite", marks=pytest.mark.slow),
                                          POSTGRESQL], indirect=True)
def test_a_busy_daemon_starts_a_due_issue_picks_up_a_resumed_send_and_enrols_within_a_round(
        tmp_path: Path, database_url: str,
        record_property: Callable[[str, object], None]) -> None:
    with FaultySMTP(lambda r, a: "ok") as server:
        config_file = site(tmp_path, server.port, database_url)
        config = load_config(config_file.parent, config_file)
        engine = open_database(database_url)
        confirm_at(engine, WAVE, utc_now())
        resumed = start(engine, config, ready(config, config.issues_dir /
                                              "paused-then-resumed.md"), utc_now())
        control.pause(engine, resumed, utc_now())
        due = config.issues_dir / "due-during-the-wave.md"
        template = due.read_text(encoding="utf-8")
        due.unlink()  # it appears, due in a few seconds, once the wave is going out
        command = cli_command(config_file, "run", "--interval", str(INTERVAL))
        logs = [tmp_path / "run.log", tmp_path / "worker.log"]
        processes = [started_logging(command, logs[0])]
        if engine.dialect.name == "postgresql":
            processes.append(started_logging([*command, "--worker"], logs[1]))
        try:
            wait_until(lambda: sent_count(engine, "automation:welcome") > 0, 60)
            send_at = (utc_now() + timedelta(seconds=4)).replace(microsecond=0)
            due.write_text(template.replace("SEND_AT", send_at.isoformat()), encoding="utf-8")
            newcomer_at = utc_now()
            (newcomer,) = confirm_at(engine, 1, newcomer_at, start=WAVE)
            wait_until(lambda: enrolled(engine, newcomer), 120)
            enrolled_after = (utc_now() - newcomer_at).total_seconds()
            wait_until(lambda: first_sent(engine, "due-during-the-wave") is not None, 120)
            issue_first = seconds_until(first_sent(engine, "due-during-the-wave"), send_at)
            wave_then = sent_count(engine, "automation:welcome")
            resumed_at = utc_now()
            control.resume(engine, resumed)
            wait_until(lambda: first_sent(engine, "paused-then-resumed") is not None, 240)
            pickup = seconds_until(first_sent(engine, "paused-then-resumed"), resumed_at)
        finally:
            for process in processes:
                process.send_signal(signal.SIGTERM)
            for process in processes:
                process.wait(60)
    with engine.connect() as conn:
        started = conn.execute(sa.select(sends.c.created_at)
                               .where(sends.c.issue_slug == "due-during-the-wave")).scalar()
    issue_start = seconds_until(started, send_at)
    figures = (f"issue started {issue_start:.1f} s after send_at, first message "
               f"{issue_first:.1f} s; resumed send's first message {pickup:.1f} s after the "
               f"resume; newcomer enrolled in {enrolled_after:.1f} s; welcomes sent when the "
               f"issue's first went out: {wave_then} of {WAVE}\n"
               + daemon_log(logs, send_at - timedelta(seconds=6), send_at + timedelta(seconds=20)))
    for name, value in (("issue_start", issue_start), ("issue_first", issue_first),
                        ("pickup", pickup), ("enrolled_after", enrolled_after),
                        ("wave_then", wave_then)):
        record_property(name, value)  # --junitxml keeps the figures of a passing run
    assert issue_start <= BOUND, figures
    assert issue_first <= BOUND, figures
    assert pickup <= BOUND, figures
    assert enrolled_after <= BOUND, figures
    assert wave_then < WAVE, figures  # the issue did not wait for the wave: they shared


def test_a_round_ends_when_its_time_is_up_and_says_whether_rows_may_still_be_due(
        seed_config: Config, tmp_path: Path) -> None:
    (tmp_path / "issues").mkdir()
    with FaultySMTP(lambda r, a: "ok") as server:
        config = smtp_site(seed_config, server.port, rate_per_second=RATE)
        settings = config.settings
        config = replace(config, settings=settings.model_copy(update={
            "sending": settings.sending.model_copy(update={"sender_processes": 0,
                                                           "batch_size": 50}),
            "paths": settings.paths.model_copy(update={"issues": str(tmp_path / "issues")})}))
        engine = open_database(config.database_url)
        add_confirmed(engine, 600)
        send_id = start(engine, config, ready(config, ROUNDS / "issues" /
                                              "paused-then-resumed.md"), utc_now())
        daemon = Daemon(config, SECRETS, engine, utc_now, round_seconds=1.0)
        began = time.monotonic()
        daemon.tick()
        first_round = time.monotonic() - began
        assert daemon.busy
        assert 0 < outbox.counts(engine, send_id)["sent"] < 600
        assert first_round < 1.0 + 2 * 50 / RATE + 3  # the round, the batch in hand, slack
        rounds = 1
        while daemon.busy:
            daemon.tick()
            rounds += 1
        assert outbox.counts(engine, send_id)["sent"] == 600
        assert rounds >= 3  # six seconds of sending, in rounds of one and the rows in hand
        daemon.tick()  # nothing left: a quick round that asks for no other at once
        assert not daemon.busy

