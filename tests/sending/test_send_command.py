"""`publisher send` as an operator runs it: the prompt, --dry-run, --to, SIGTERM, status."""

from __future__ import annotations

import os
import signal
import time
from functools import partial
from pathlib import Path

import sqlalchemy as sa

from publisher.db import deliveries, open_database, sends
from tests.cli import run_publisher_here, start_publisher
from tests.sending.faulty_smtp import FaultySMTP
from tests.sending.helpers import add_confirmed, write_config_file

SUBSCRIBERS = 400
BATCH = 25
ENV = {**os.environ, "PUBLISHER_SECRET_KEY": "send-command-test-key-0123"}


publisher = partial(run_publisher_here, env=ENV)  # in process: start_publisher for signals


def site(tmp_path: Path, port: int) -> tuple[Path, sa.Engine]:
    url = f"sqlite:///{tmp_path / 'publisher.db'}"
    config = write_config_file(tmp_path, port, url, f"[sending]\nbatch_size = {BATCH}\n",
                               pool_size=4)
    return config, open_database(url)


def states(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(deliveries.c.status, sa.func.count())
                            .group_by(deliveries.c.status)).all()
    return {str(status): int(n) for status, n in rows}


def send_rows(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(sends)).scalar_one())


def test_declining_the_prompt_or_a_dry_run_sends_and_records_nothing(tmp_path: Path) -> None:
    with FaultySMTP(lambda r, a: "ok") as server:
        config, engine = site(tmp_path, server.port)
        add_confirmed(engine, 3)
        declined = publisher(config, "send", "2024-06-first-half", stdin="n\n")
        dry = publisher(config, "send", "2024-06-first-half", "--dry-run")
    assert declined.returncode != 0
    assert "to 3 subscriber(s)" in declined.stdout
    assert dry.returncode == 0, dry.stderr
    assert "dry run: Send '2024年6月上半月重要LLM论文' to 3 subscriber(s)" in dry.stdout
    assert send_rows(engine) == 0 and states(engine) == {}
    assert sum(server.attempts.values()) == 0


def test_a_test_copy_reaches_only_its_address_and_leaves_the_outbox_alone(tmp_path: Path) -> None:
    with FaultySMTP(lambda r, a: "ok") as server:
        config, engine = site(tmp_path, server.port)
        add_confirmed(engine, 3)
        result = publisher(config, "send", "2024-06-first-half", "--to", "editor@example.com")
    assert result.returncode == 0, result.stderr
    assert "test copy to editor@example.com: sent" in result.stdout
    assert dict(server.delivered) == {"editor@example.com": 1}
    assert send_rows(engine) == 0 and states(engine) == {}


def test_a_refused_test_copy_is_an_error_with_the_servers_reply(tmp_path: Path) -> None:
    with FaultySMTP(lambda r, a: "550") as server:
        config, _ = site(tmp_path, server.port)
        result = publisher(config, "send", "2024-06-first-half", "--to", "nobody@example.com")
    assert result.returncode == 1
    assert "test copy not sent: 550 5.1.1 No such user" in result.stderr


def test_sigterm_finishes_what_is_in_flight_and_the_resume_sends_each_rest_once(
        tmp_path: Path) -> None:
    with FaultySMTP(lambda r, a: "ok", delay=0.02) as server:
        config, engine = site(tmp_path, server.port)
        addresses = add_confirmed(engine, SUBSCRIBERS)
        process = start_publisher(config, "send", "2024-06-first-half", "--yes", text=True, env=ENV)
        deadline = time.monotonic() + 60
        while sum(server.delivered.values()) < 2 * BATCH and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr[-2000:]
        stopped = states(engine)
        status = publisher(config, "status", "2024-06-first-half")
        resumed = publisher(config, "send", "2024-06-first-half", "--yes")
    assert "sending" not in stopped, "a graceful stop settles every row it claimed"
    assert 0 < stopped["sent"] < SUBSCRIBERS, f"the stop should land mid-send: {stopped}"
    assert stopped == {"sent": stopped["sent"], "queued": SUBSCRIBERS - stopped["sent"]}
    assert f"sent={stopped['sent']}" in stdout
    assert status.returncode == 0 and "2024-06-first-half" in status.stdout
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"sent={SUBSCRIBERS}" in resumed.stdout
    assert all(server.delivered[a] == 1 for a in addresses), "no one missed, no one twice"
    assert states(engine) == {"sent": SUBSCRIBERS}


def test_status_shows_counts_per_state_and_the_last_errors(tmp_path: Path) -> None:
    with FaultySMTP(lambda r, a: "550" if r == "u1@example.net" else "ok") as server:
        config, engine = site(tmp_path, server.port)
        add_confirmed(engine, 4)
        sent = publisher(config, "send", "2024-06-first-half", "--yes")
        status = publisher(config, "status", "2024-06-first-half")
    assert sent.returncode == 0, sent.stderr
    assert "sent=3" in sent.stdout and "failed=1" in sent.stdout
    assert status.returncode == 0, status.stderr
    row = next(line for line in status.stdout.splitlines() if "2024-06-first-half" in line)
    assert [cell.strip() for cell in row.strip("│┃ ").split("│")][1:7] == [
        "done", "0", "0", "3", "0", "1"]
    assert "failed   u1@example.net: 550 5.1.1 No such user" in status.stdout
