"""SIGKILL a real `publisher send` at random moments, resume, and count what arrived."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import sqlalchemy as sa

from publisher.db import deliveries, open_database
from tests.conftest import REPO
from tests.sending.faulty_smtp import FaultySMTP
from tests.sending.helpers import add_confirmed, cli_command

BATCH = 25
SUBSCRIBERS = 600


def write_site(tmp_path: Path, port: int) -> Path:
    shutil.copytree(REPO / "issues", tmp_path / "issues")
    shutil.copytree(REPO / "templates", tmp_path / "templates")
    config = (REPO / "publisher.toml").read_text(encoding="utf-8")
    config = config.replace("port = 8025", f"port = {port}\npool_size = 4")
    config += f"\n[sending]\nbatch_size = {BATCH}\nlease_seconds = 3600\n"
    (tmp_path / "publisher.toml").write_text(config, encoding="utf-8")
    return tmp_path / "publisher.toml"


def send(config: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PUBLISHER_SECRET_KEY": "crash-test-secret-key-0123"}
    return subprocess.Popen(
        cli_command(config, "send", "2024-06-first-half", "--yes"),
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_sigkill_at_random_points_then_resume_misses_nobody(tmp_path: Path) -> None:
    rng = random.Random(20240616)
    with FaultySMTP(lambda r, a: "ok", delay=0.02) as server:
        config = write_site(tmp_path, server.port)
        engine = open_database(f"sqlite:///{tmp_path / 'var' / 'publisher.db'}")
        addresses = add_confirmed(engine, SUBSCRIBERS)
        kills = 0
        for _ in range(4):
            process = send(config)
            time.sleep(rng.uniform(0.9, 1.6))
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                kills += 1
            process.wait(timeout=30)
        final = send(config)
        _, stderr = final.communicate(timeout=120)
        assert final.returncode == 0, stderr.decode()[-2000:]
    assert kills >= 2, "the kills should land while the send is running"
    assert all(server.delivered[a] >= 1 for a in addresses), "someone was missed"
    duplicates = {a: n for a, n in server.delivered.items() if n > 1}
    window = 3 * BATCH + 4  # claimed-but-unsettled at most: building + queued + unrecorded + pool
    assert sum(n - 1 for n in duplicates.values()) <= kills * window
    for address in duplicates:
        assert len(set(server.message_ids[address])) == 1, "a re-send must be the same message"
    with engine.connect() as conn:
        states: dict[str, int] = dict(conn.execute(sa.select(deliveries.c.status, sa.func.count())
                                   .group_by(deliveries.c.status)).all())
    assert states == {"sent": SUBSCRIBERS}
