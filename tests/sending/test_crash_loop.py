"""A crash loop: a real `publisher send` SIGKILLed again and again while it holds claimed
rows (the SMTP server has not even greeted), then a resume against a server that refuses
each reader once. Claims taken back from dead processes spend none of a reader's attempts;
a row that too many processes lose is set aside and named, not given up as undeliverable."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from publisher.db import deliveries, open_database
from publisher.mail.rendered import RenderedEmail
from publisher.mail.smtp import Kind, Reply
from publisher.sending import control, outbox
from tests.cli import run_publisher, start_publisher
from tests.sending.faulty_smtp import FaultySMTP
from tests.sending.helpers import T0, add_confirmed, wait_until, write_config_file

ISSUES = Path(__file__).resolve().parents[1] / "data" / "sending" / "issues"
SLUG = "2024-07-crash-loop"
READERS = 40
MAX_ATTEMPTS = 2
KILLS = 4  # each takes back every reader's row: twice MAX_ATTEMPTS


@contextmanager
def silent_server() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never greets: a sending
    process waits there with its rows claimed, until it is killed."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(128)
        yield int(listener.getsockname()[1])


def site(tmp_path: Path, port: int, extra: str = "") -> Path:
    """A config sending to 127.0.0.1:port, with this test's issue, one sender process and a
    batch that claims every reader at once."""
    config = write_config_file(
        tmp_path / "site", port, f"sqlite:///{tmp_path / 'publisher.db'}",
        f"[sending]\nbatch_size = {READERS}\nsender_processes = 1\n{extra}",
        pool_size=2, connect_timeout=120.0, max_attempts=MAX_ATTEMPTS,
        backoff_base_seconds=0.2, backoff_max_seconds=0.4)
    text = config.read_text(encoding="utf-8")
    repo_issues = str(Path(__file__).resolve().parents[1] / "data" / "site" / "issues")
    config.write_text(text.replace(repo_issues, str(ISSUES)), encoding="utf-8")
    return config


def held_by(engine: sa.Engine, holder: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).where(
            deliveries.c.status == "sending", deliveries.c.claimed_by == holder)).scalar_one())


def crash_loop(config: Path, engine: sa.Engine, kills: int) -> None:
    """Start `publisher send`, SIGKILL it once it holds every reader's row, `kills` times."""
    for _ in range(kills):
        process = start_publisher(config, "send", SLUG, "--yes", stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        holder = f"{socket.gethostname()}:{process.pid}"
        wait_until(lambda: held_by(engine, holder) == READERS  # noqa: B023
                   or process.poll() is not None)  # noqa: B023
        assert process.poll() is None, "the send ended before it was killed"
        process.kill()
        process.wait(timeout=30)


def rows(engine: sa.Engine) -> list[Any]:
    c = deliveries.c
    with engine.connect() as conn:
        return list(conn.execute(sa.select(c.email, c.status, c.attempts, c.lost_claims,
                                           c.last_reply).order_by(c.id)).all())


def resume(config: Path) -> subprocess.CompletedProcess[str]:
    return run_publisher(config, "send", SLUG, "--yes", "--wait", timeout=180)


def refused_once(_recipient: str, attempt: int) -> str:
    return "451" if attempt == 1 else "ok"


@pytest.mark.slow  # a SIGKILL loop of real `publisher send` processes
def test_a_crash_loop_while_rows_are_claimed_spends_no_attempts_and_every_reader_gets_the_issue(
        tmp_path: Path) -> None:
    with silent_server() as port:
        config = site(tmp_path, port)
        engine = open_database(f"sqlite:///{tmp_path / 'publisher.db'}")
        addresses = add_confirmed(engine, READERS)
        crash_loop(config, engine, KILLS)
    with FaultySMTP(refused_once) as server:
        done = resume(site(tmp_path, server.port))
    assert done.returncode == 0, done.stderr[-2000:]
    assert set(server.delivered) == set(addresses), "a good reader never received the issue"
    assert all(n == 1 for n in server.delivered.values())
    final = rows(engine)
    assert {row.status for row in final} == {"sent"}, [r.last_reply for r in final][:3]
    assert {row.attempts for row in final} == {2}, "attempts count the two SMTP transactions"
    assert {row.lost_claims for row in final} == {KILLS}


@pytest.mark.slow  # a SIGKILL loop of real `publisher send` processes
def test_a_row_that_keeps_coming_back_from_dead_processes_is_set_aside_and_named(
        tmp_path: Path) -> None:
    with silent_server() as port:
        config = site(tmp_path, port, "max_lost_claims = 2\n")
        engine = open_database(f"sqlite:///{tmp_path / 'publisher.db'}")
        addresses = add_confirmed(engine, READERS)
        crash_loop(config, engine, 2)
    with FaultySMTP(lambda _r, _a: "ok") as server:
        done = resume(site(tmp_path, server.port, "max_lost_claims = 2\n"))
        assert done.returncode == 0, done.stderr[-2000:]
        assert not server.attempts, "a row set aside is not sent"
        final = rows(engine)
        assert {row.status for row in final} == {"failed"}
        assert {row.attempts for row in final} == {0}, "no SMTP transaction was made"
        assert {row.lost_claims for row in final} == {2}
        for row in final:
            assert row.last_reply is not None
            assert row.last_reply.startswith("not sent: set aside after 2 lost claims ")
            assert "its server never refused it" in row.last_reply
            assert "gave up" not in row.last_reply
        warnings = [json.loads(line) for line in done.stderr.splitlines()
                    if '"delivery_set_aside"' in line]
        with engine.connect() as conn:
            ids = set(conn.execute(sa.select(deliveries.c.id)).scalars())
        assert {w["delivery_id"] for w in warnings} == ids, "each row set aside is named"
        assert all(w["lost_claims"] == 2 and w["issue"] == SLUG and "set aside after 2 lost"
                   in w["reason"] for w in warnings)
        retried = run_publisher(config.parent / "publisher.toml", "retry", SLUG, timeout=180)
        assert retried.returncode == 0, retried.stderr[-2000:]
    assert set(server.delivered) == set(addresses), "`publisher retry` sends them after all"


def dead_worker() -> str:
    """The worker name of a process on this host that has exited (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return f"{socket.gethostname()}:{child.pid}"


def test_claims_taken_back_from_dead_processes_count_lost_claims_not_attempts(
        database_url: str) -> None:
    engine = open_database(database_url)
    add_confirmed(engine, 3)
    rendered = RenderedEmail(slug="c", subject="s", language="en", html="<p>h</p>", text="t")
    send_id = outbox.start_send(engine, "tag:c", rendered, T0)
    backoff = outbox.Backoff(60, 600, max_attempts=2)
    for _ in range(3):  # three processes die holding every row
        assert len(outbox.claim_batch(engine, send_id, dead_worker(), T0, 10,
                                      dead_workers=outbox.dead_local_workers(
                                          engine, send_id))) == 3
    live = outbox.worker_id()
    dead = outbox.dead_local_workers(engine, send_id)
    assert control.set_aside_lost(engine, send_id, T0, 5, timedelta(hours=1), dead) == []
    batch = outbox.claim_batch(engine, send_id, live, T0, 10, timedelta(hours=1), dead)
    assert [d.attempts for d in batch] == [0, 0, 0], "no claim spent an attempt"
    refused = Reply(451, "451 4.3.0 Try again later", Kind.TEMPORARY)
    results = [outbox.result_of(d, refused, backoff, T0) for d in batch]
    assert [r.status for r in results] == ["deferred"] * 3
    outbox.record_results(engine, results, T0, live)
    with engine.connect() as conn:
        stored = conn.execute(sa.select(deliveries.c.attempts, deliveries.c.lost_claims)
                              .order_by(deliveries.c.id)).all()
    assert [tuple(row) for row in stored] == [(1, 3)] * 3


def test_the_guard_sets_aside_only_rows_lost_by_max_lost_claims_processes(
        database_url: str) -> None:
    engine = open_database(database_url)
    add_confirmed(engine, 4)
    rendered = RenderedEmail(slug="g", subject="s", language="en", html="<p>h</p>", text="t")
    send_id = outbox.start_send(engine, "tag:g", rendered, T0)
    first = dead_worker()
    outbox.claim_batch(engine, send_id, first, T0, 2)  # rows 1-2: lost once
    second = dead_worker()
    claimed = outbox.claim_batch(engine, send_id, second, T0, 2,
                                 dead_workers=outbox.dead_local_workers(engine, send_id))
    assert len(claimed) == 2  # the same two rows: lost twice once this process is dead
    dead = outbox.dead_local_workers(engine, send_id)
    aside = control.set_aside_lost(engine, send_id, T0, 2, timedelta(hours=1), dead)
    assert [(a.lost_claims, a.holder) for a in aside] == [(2, second), (2, second)]
    assert {a.delivery_id for a in aside} == {d.id for d in claimed}
    assert outbox.counts(engine, send_id)["failed"] == 2
    rest = outbox.claim_batch(engine, send_id, outbox.worker_id(), T0, 10,
                              timedelta(hours=1), dead)
    assert {d.id for d in rest}.isdisjoint(a.delivery_id for a in aside)
    assert len(rest) == 2
    assert control.retry_failed(engine, send_id, T0) == 2
    with engine.connect() as conn:
        requeued = conn.execute(sa.select(deliveries.c.lost_claims).where(
            deliveries.c.status == "queued")).scalars().all()
    assert requeued == [0, 0], "a retry gives a set-aside row a fresh count"
