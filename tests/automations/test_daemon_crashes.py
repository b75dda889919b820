"""Real `publisher run` daemons, SIGKILLed at random points and restarted, then two at once
on one database: every (step, reader) is one row, and each reader gets each step once."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from publisher.db import deliveries, open_database, sends
from tests.automations.helpers import BASE, confirm_at, step_text
from tests.cli import start_publisher
from tests.conftest import REPO, SITE
from tests.sending.faulty_smtp import FaultySMTP

READERS = 300


def write_site(tmp_path: Path, port: int) -> Path:
    (tmp_path / "issues").mkdir()  # no issues: only the steps are mailed
    steps = tmp_path / "automations"
    steps.mkdir()
    (steps / "welcome.md").write_text(step_text("Welcome", "0"), encoding="utf-8")
    (steps / "day-3.md").write_text(step_text("Day three", "3d"), encoding="utf-8")
    text = (SITE / "publisher.toml").read_text(encoding="utf-8")
    text = text.replace("port = 8025", f"port = {port}\npool_size = 4")
    text = text.replace('templates = "templates"', f'templates = "{REPO / "templates"}"')
    text += "\n[sending]\nbatch_size = 25\ncatch_up_hours = 100000\n"
    (tmp_path / "publisher.toml").write_text(text, encoding="utf-8")
    return tmp_path / "publisher.toml"


def daemon(config: Path) -> subprocess.Popen[bytes]:
    return start_publisher(config, "run", "--interval", "1", stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)


def states(engine: sa.Engine) -> dict[tuple[str, str], int]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(sends.c.issue_slug, deliveries.c.status, sa.func.count())
                            .join(sends, sends.c.id == deliveries.c.send_id)
                            .group_by(sends.c.issue_slug, deliveries.c.status)).all()
    return {(str(slug), str(status)): int(n) for slug, status, n in rows}


@pytest.mark.slow  # a SIGKILL loop of real daemons
def test_killed_and_doubled_daemons_send_every_step_to_every_reader_once(
    tmp_path: Path
) -> None:
    rng = random.Random(20250301)
    done = {("automation:welcome", "sent"): READERS, ("automation:day-3", "sent"): READERS}
    with FaultySMTP(lambda r, a: "ok", delay=0.01) as server:
        config = write_site(tmp_path, server.port)
        engine = open_database(f"sqlite:///{tmp_path / 'var' / 'publisher.db'}")
        readers = confirm_at(engine, READERS, BASE)
        kills = 0
        for _ in range(4):
            process = daemon(config)
            time.sleep(rng.uniform(1.0, 2.5))
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
            process.wait(timeout=30)
        pair = [daemon(config), daemon(config)]
        try:
            deadline = time.monotonic() + 180
            while states(engine) != done and time.monotonic() < deadline:
                time.sleep(0.5)
        finally:
            for process in pair:
                process.send_signal(signal.SIGTERM)
                process.wait(timeout=60)
    assert kills >= 2, "the kills should land while the daemon is working"
    assert states(engine) == done  # one row per (step, reader), all sent
    for reader in readers:
        assert len(set(server.message_ids[reader])) == 2, "welcome and day 3, nothing else"
    repeats = sum(server.delivered.values()) - 2 * READERS
    assert repeats <= kills * (3 * 25 + 4), "only rows in flight at a kill may go twice"
