"""SIGKILL a real `publisher send` at random moments, resume, and count what arrived; and
SIGKILL one of its sender processes mid-send."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from publisher.db import deliveries, open_database
from publisher.sending.flow import UNWRITTEN_MAX
from publisher.sending.sender_processes import CREDIT_PER_CONNECTION, sender_counts
from tests.cli import start_publisher
from tests.conftest import REPO, SITE
from tests.sending.faulty_smtp import FaultySMTP
from tests.sending.helpers import add_confirmed

pytestmark = pytest.mark.slow  # SIGKILL loops of real `publisher send` processes

BATCH = 25
SUBSCRIBERS = 600
POOL = 4
SENDERS = 2
# What a SIGKILL of the draining process can deliver twice: the rows handed to the sender
# processes or sent and waiting for their write, which the drain keeps within UNWRITTEN_MAX
# + pool_size. The rest of what it claimed was never handed over: sent once on resume.
WINDOW = UNWRITTEN_MAX + POOL
# What a SIGKILL of one sender process can deliver twice: the rows it held without a result.
CREDIT = CREDIT_PER_CONNECTION * sender_counts(SENDERS, POOL)[1]


def write_site(tmp_path: Path, port: int) -> Path:
    shutil.copytree(SITE / "issues", tmp_path / "issues")
    shutil.copytree(REPO / "templates", tmp_path / "templates")
    config = (SITE / "publisher.toml").read_text(encoding="utf-8")
    config = config.replace("port = 8025", f"port = {port}\npool_size = {POOL}")
    config += (f"\n[sending]\nbatch_size = {BATCH}\nlease_seconds = 3600\n"
               f"sender_processes = {SENDERS}\n")
    (tmp_path / "publisher.toml").write_text(config, encoding="utf-8")
    return tmp_path / "publisher.toml"


def send(config: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "PUBLISHER_SECRET_KEY": "crash-test-secret-key-0123"}
    return start_publisher(config, "send", "2024-06-first-half", "--yes", env=env,
                           stdout=subprocess.DEVNULL)


def children(pid: int) -> list[int]:
    """The sender processes of a running `publisher send` (Linux /proc)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text(encoding="ascii")
    except OSError:
        return []
    return [int(child) for child in text.split()]


def alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper does not send)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def gone(pid: int) -> bool:
    return wait_until(lambda: not alive(pid), 5)


def extra_copies(delivered: Counter[str]) -> int:
    return sum(n - 1 for n in delivered.values() if n > 1)


def wait_until(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def kill_then_resume(config: Path, server: FaultySMTP, rng: random.Random,
                     kills: int) -> tuple[list[int], list[int]]:
    """`publisher send` SIGKILLed `kills` times at random points while it sends, then run to
    the end: the copies each kill made the next run send twice, and the sender processes
    that outlived their killed drain."""
    per_kill: list[int] = []
    orphans: list[int] = []
    killed = False
    for _ in range(kills):
        before, total = extra_copies(server.delivered), sum(server.delivered.values())
        process = send(config)
        at = total + rng.randint(5, 120)  # a random point while it sends
        wait_until(lambda: sum(server.delivered.values()) >= at  # noqa: B023
                   or process.poll() is not None, 60)  # noqa: B023
        senders = children(process.pid)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        if killed:  # what this run sent twice is what the previous kill left unwritten
            per_kill.append(extra_copies(server.delivered) - before)
        killed = process.returncode == -signal.SIGKILL
        orphans += [pid for pid in senders if not gone(pid)]
    before = extra_copies(server.delivered)
    final = send(config)
    _, stderr = final.communicate(timeout=120)
    assert final.returncode == 0, stderr.decode()[-2000:]
    if killed:
        per_kill.append(extra_copies(server.delivered) - before)
    return per_kill, orphans


def sent_states(engine: sa.Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(deliveries.c.status, sa.func.count())
                            .group_by(deliveries.c.status)).all()
    return {str(status): int(count) for status, count in rows}


def test_sigkill_at_random_points_then_resume_misses_nobody(
        tmp_path: Path, report_figure: Callable[[str], None]) -> None:
    rng = random.Random(20240616)
    with FaultySMTP(lambda r, a: "ok", delay=0.02) as server:
        config = write_site(tmp_path, server.port)
        engine = open_database(f"sqlite:///{tmp_path / 'var' / 'publisher.db'}")
        addresses = add_confirmed(engine, SUBSCRIBERS)
        per_kill, orphans = kill_then_resume(config, server, rng, kills=4)
    report_figure(f"SIGKILL of `publisher send` (2 sender processes): duplicates per kill "
                  f"{per_kill} (window {WINDOW})")
    assert len(per_kill) >= 2, "the kills should land while the send is running"
    assert not orphans, "a sender process outlived its killed drain"
    assert all(a in server.delivered for a in addresses), "someone was missed"
    assert all(extra <= WINDOW for extra in per_kill)
    assert extra_copies(server.delivered) == sum(per_kill)
    for address, count in server.delivered.items():
        assert count == 1 or len(set(server.message_ids[address])) == 1, \
            "a re-send must be the same message"
    assert sent_states(engine) == {"sent": SUBSCRIBERS}


def test_sigkill_of_a_sender_process_mid_send_resends_only_its_rows(
        tmp_path: Path, report_figure: Callable[[str], None]) -> None:
    with FaultySMTP(lambda r, a: "ok", delay=0.02) as server:
        config = write_site(tmp_path, server.port)
        engine = open_database(f"sqlite:///{tmp_path / 'var' / 'publisher.db'}")
        addresses = add_confirmed(engine, SUBSCRIBERS)
        process = send(config)
        assert wait_until(lambda: sum(server.delivered.values()) >= 150, 60)
        senders = children(process.pid)
        assert len(senders) == SENDERS, senders
        os.kill(senders[0], signal.SIGKILL)
        _, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr.decode()[-2000:]
    extra = extra_copies(server.delivered)
    report_figure(f"SIGKILL of one sender process mid-send: {extra} duplicates "
                  f"(its credit {CREDIT})")
    assert all(a in server.delivered for a in addresses), "someone was missed"
    assert set(server.delivered) == set(addresses)
    assert extra <= CREDIT
    for address, count in server.delivered.items():
        assert count == 1 or len(set(server.message_ids[address])) == 1, \
            "a re-send must be the same message"
    assert sent_states(engine) == {"sent": SUBSCRIBERS}
