"""Keeping a list for years: `publisher db prune` frees the rows and frozen email of old
sends while every report stays the same; what a send costs in the database; and a live
backup taken during a send restores to a consistent database."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from publisher.config import Config
from publisher.db import deliveries, open_database, sends
from publisher.mail.message_ids import MessageIds
from publisher.mail.rendered import RenderedEmail
from publisher.mail.returned import Report
from publisher.sending import outbox, reports, retention
from publisher.sending.drain import DrainOptions
from publisher.sending.returned_mail import apply_report
from publisher.sending.send_issue import ready, run_send, start
from publisher.subscribers import store
from publisher.subscribers.addresses import normalise_address
from tests.cli import run_publisher_here, start_publisher
from tests.conftest import SEED_ISSUE
from tests.sending.faulty_smtp import FaultySMTP
from tests.sending.helpers import (
    SECRETS,
    T0,
    add_confirmed,
    bulk_confirmed,
    smtp_site,
    write_config_file,
)

SLUG = "2024-06-first-half"


def run_cli(config_file: Path, *args: str) -> str:
    result = run_publisher_here(config_file, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def finished_send(seed_config: Config, url: str) -> tuple[Engine, int]:
    """A send finished on T0 (2024): one 550, one who left first, one complaint later."""
    with FaultySMTP(lambda rcpt, n: "550" if rcpt == "u0@example.net" else "ok") as server:
        config = smtp_site(seed_config, server.port, database_url=url)
        engine = open_database(url)
        add_confirmed(engine, 20)
        send_id = start(engine, config, ready(config, SEED_ISSUE), T0)
        with engine.begin() as conn:
            left = store.find(conn, normalise_address("u5@example.net"))
            assert left is not None
            store.unsubscribe(conn, left.id, T0)
        run_send(engine, config, SECRETS, send_id, lambda: T0, DrainOptions())
    with engine.begin() as conn:
        row = conn.execute(sa.select(deliveries.c.id)
                           .where(deliveries.c.email == "u3@example.net")).scalar_one()
        apply_report(conn, Report("complaint", "u3@example.net", "", "abuse", delivery_id=row),
                     MessageIds(SECRETS.secret_keys), 1, T0)
    return engine, send_id


def rows_by_state(engine: Engine, send_id: int) -> dict[str, int]:
    return {state: n for state, n in outbox.counts(engine, send_id).items() if n}


def without_pruned(report: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in report.items() if key != "pruned"}


def status_row(output: str, slug: str) -> list[str]:
    line = next(line for line in output.splitlines() if slug in line)
    return line.replace("│", " ").replace("(pruned)", "").split()


def test_prune_frees_old_sends_and_every_report_stays_the_same(
        seed_config: Config, tmp_path: Path, database_url: str) -> None:
    engine, send_id = finished_send(seed_config, database_url)
    active = outbox.start_send(engine, "tag:active", RenderedEmail(
        slug="still-sending", subject="s", language="en", html="<p>h</p>", text="t"), T0)
    config_file = write_config_file(tmp_path, 2525, database_url)
    before = json.loads(run_cli(config_file, "report", SLUG, "--json"))
    status_before = run_cli(config_file, "status")
    progress_before = reports.progress_series(engine, send_id)
    assert before["counts"]["sent"] == 18 and before["complaints"] == 1

    dry = run_cli(config_file, "db", "prune", "--older-than", "30", "--dry-run")
    assert dry.startswith(f"would prune {SLUG} (finished 2024-06-16): 18 delivery rows and a ")
    assert rows_by_state(engine, send_id) == {"sent": 18, "failed": 2}

    pruned = run_cli(config_file, "db", "prune", "--older-than", "30")
    assert pruned.startswith(f"pruned {SLUG}: 18 delivery rows")
    assert rows_by_state(engine, send_id) == {"failed": 2}  # failed rows are kept
    assert rows_by_state(engine, active) == {"queued": 17}  # an active send is never pruned
    with engine.connect() as conn:
        content, pruned_at = conn.execute(sa.select(sends.c.content, sends.c.pruned_at)
                                          .where(sends.c.id == send_id)).one()
    assert content is None and pruned_at is not None

    after = json.loads(run_cli(config_file, "report", SLUG, "--json"))
    assert after["pruned"] and without_pruned(after) == without_pruned(before)
    status_after = run_cli(config_file, "status")
    assert status_row(status_after, SLUG) == status_row(status_before, SLUG)
    assert f"{SLUG} │ done (pruned)" in status_after
    assert reports.progress_series(engine, send_id) == progress_before
    assert run_cli(config_file, "db", "prune", "--older-than", "30").startswith(
        "nothing to prune")
    assert run_cli(config_file, "db", "prune", "--older-than", "30", "--vacuum").endswith(
        "space reclaimed (VACUUM)\n")

    # Its failed rows are listed still, but the email to send them again is gone.
    retry = run_publisher_here(config_file, "retry", SLUG)
    assert retry.returncode == 1
    assert "pruned by `publisher db prune`" in retry.stderr
    assert rows_by_state(engine, send_id) == {"failed": 2}


def test_prune_deletes_in_chunks_and_a_second_run_changes_nothing(
        seed_config: Config, tmp_path: Path) -> None:
    engine, send_id = finished_send(seed_config, f"sqlite:///{tmp_path / 'p.db'}")
    summaries: list[dict[str, Any]] = []

    def summarise() -> dict[str, Any]:
        summaries.append(reports.retention_summary(engine, send_id, T0))
        return summaries[-1]

    assert retention.prune_send(engine, send_id, summarise, T0, chunk=7) == 18
    assert retention.prune_send(engine, send_id, summarise, T0, chunk=7) == 0
    assert len(summaries) == 1  # made once, before the first delete
    assert reports.failures_by_reply(engine, send_id) == [
        ("failed", "550 5.1.1 No such user", 1),
        ("failed", "not sent: subscriber unsubscribed", 1)]


def database_bytes(engine: Engine) -> int:
    with engine.connect() as conn:
        pages = conn.execute(sa.text("PRAGMA page_count")).scalar_one()
        size = conn.execute(sa.text("PRAGMA page_size")).scalar_one()
    return int(pages) * int(size)


def test_what_a_send_to_100000_costs_and_that_prune_and_vacuum_give_it_back(
        seed_config: Config, tmp_path: Path, report_figure: Callable[[str], None]) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'growth.db'}")
    bulk_confirmed(engine, 100_000)
    empty = database_bytes(engine)
    send_id = start(engine, seed_config, ready(seed_config, SEED_ISSUE), T0)
    queued = database_bytes(engine)
    while batch := outbox.claim_batch(engine, send_id, "w", T0, 5000):
        outbox.record_results(engine, [  # what Postfix answers
            outbox.Result(d.id, outbox.SENT, f"250 2.0.0 Ok: queued as 4WfT{d.id:08X}")
            for d in batch], T0)
    outbox.mark_done(engine, send_id, T0)
    settled = database_bytes(engine)
    with engine.connect() as conn:
        email = conn.execute(sa.text("SELECT length(CAST(content AS BLOB)) FROM sends")
                             ).scalar_one()  # as stored: JSON, non-ASCII escaped
    report_figure(f"growth per send of 100,000 (SQLite): queued +{(queued - empty) / 1e6:.1f} "
                  f"MB, settled +{(settled - empty) / 1e6:.1f} MB = "
                  f"{(settled - empty) / 100_000:.0f} bytes per delivery row; frozen email "
                  f"{email / 1000:.0f} KB per send")
    retention.prune_send(engine, send_id,
                      lambda: reports.retention_summary(engine, send_id, T0), T0)
    pruned = database_bytes(engine)
    retention.reclaim_space(engine)
    vacuumed = database_bytes(engine)
    report_figure(f"after prune: {pruned / 1e6:.1f} MB (pages kept for reuse); after VACUUM "
                  f"{vacuumed / 1e6:.1f} MB; before the send {empty / 1e6:.1f} MB")
    assert pruned == settled  # deleting frees pages inside the file, not the file
    assert vacuumed < empty + 100_000  # the send's summary row is what stays
    assert 100 < (settled - empty) / 100_000 < 1000


def sent_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(deliveries)
                                .where(deliveries.c.status == outbox.SENT)).scalar_one())


def test_a_live_backup_taken_during_a_send_restores_to_a_consistent_database(
        tmp_path: Path) -> None:
    db = tmp_path / "live.db"
    engine = open_database(f"sqlite:///{db}")
    add_confirmed(engine, 300)
    with FaultySMTP(lambda rcpt, n: "ok", delay=0.02) as server:
        config_file = write_config_file(tmp_path, server.port, f"sqlite:///{db}",
                                        "[sending]\nbatch_size = 20\n", pool_size=2)
        sender = start_publisher(config_file, "send", SLUG, "--yes", stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        try:
            while sent_rows(engine) < 30:  # well under way
                assert sender.poll() is None, "the send ended before the backup"
                time.sleep(0.05)
            live, backup = sqlite3.connect(db), sqlite3.connect(tmp_path / "backup.db")
            live.backup(backup)  # what `sqlite3 live.db ".backup backup.db"` does
            live.close()
            backup.close()
            assert sender.wait(timeout=120) == 0
        finally:
            sender.kill()
    copy = open_database(f"sqlite:///{tmp_path / 'backup.db'}")
    with copy.connect() as conn:
        assert conn.execute(sa.text("PRAGMA integrity_check")).scalar_one() == "ok"
    send_id = outbox.require_send(copy, SLUG)
    counts = outbox.counts(copy, send_id)
    assert sum(counts.values()) == 300 and 0 < counts["sent"] < 300
    assert outbox.frozen_content(copy, send_id)[0].slug == SLUG
    with FaultySMTP(lambda rcpt, n: "ok") as server:  # restored: the send resumes
        restored = write_config_file(tmp_path / "restored", server.port,
                                     f"sqlite:///{tmp_path / 'backup.db'}")
        run_cli(restored, "send", SLUG, "--yes")
        assert sum(server.delivered.values()) == 300 - counts["sent"]
    assert outbox.counts(copy, send_id)["sent"] == 300
