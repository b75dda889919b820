"""Reports for operators, on SQLite and PostgreSQL: a real send through a scripted SMTP
server, then what `publisher report` and `publisher status` make of its rows."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import IO

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from publisher.clock import utc_now
from publisher.config import Config
from publisher.db import deliveries, open_database
from publisher.dev.catcher import Catcher
from publisher.mail.message_ids import MessageIds
from publisher.mail.rendered import RenderedEmail
from publisher.mail.returned import Report
from publisher.sending import control, outbox, reports
from publisher.sending.drain import DrainOptions
from publisher.sending.returned_mail import apply_report
from publisher.sending.send_issue import ready, run_send, start
from publisher.subscribers import store
from publisher.subscribers.addresses import normalise_address
from tests.cli import CLI_ENV, run_publisher_here, start_publisher
from tests.conftest import SEED_ISSUE
from tests.sending.faulty_smtp import FaultySMTP
from tests.sending.helpers import SECRETS, T0, add_confirmed, smtp_site, write_config_file

SLUG = "2024-06-first-half"
SCRIPT = {"u0@example.net": "550", "u1@example.net": "550", "u2@example.net": "550",
          "u3@example.net": "451", "u4@example.net": "451"}


def delivery_id(engine: Engine, address: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(deliveries.c.id)
                                .where(deliveries.c.email == address)).scalar_one())


def scripted_send(seed_config: Config, url: str, subscribers: int = 60) -> tuple[Engine, int]:
    """A send at T0 where three addresses get 550, two are deferred (451), one left before
    it reached them, and later one complains and one hard-bounces by DSN."""
    with FaultySMTP(lambda rcpt, attempt: SCRIPT.get(rcpt, "ok")) as server:
        config = smtp_site(seed_config, server.port, database_url=url)
        engine = open_database(url)
        add_confirmed(engine, subscribers)
        send_id = start(engine, config, ready(config, SEED_ISSUE), T0)
        with engine.begin() as conn:
            left = store.find(conn, normalise_address("u5@example.net"))
            assert left is not None
            store.unsubscribe(conn, left.id, T0)
        run_send(engine, config, SECRETS, send_id, lambda: T0, DrainOptions())
    ids = MessageIds(SECRETS.secret_keys)
    with engine.begin() as conn:
        apply_report(conn, Report("complaint", "u10@example.net", "", "abuse",
                                  delivery_id=delivery_id(engine, "u10@example.net")), ids, 1, T0)
        apply_report(conn, Report("hard", "u11@example.net", "5.1.1", "mailbox gone",
                                  delivery_id=delivery_id(engine, "u11@example.net")), ids, 1, T0)
    return engine, send_id


def test_a_send_is_summarised_with_its_bounces_complaints_rate_and_eta(
        seed_config: Config, database_url: str) -> None:
    engine, send_id = scripted_send(seed_config, database_url)
    summary = reports.send_summary(engine, send_id, T0 + timedelta(seconds=30))
    assert summary.state == outbox.SEND_ACTIVE  # two rows are still deferred
    assert summary.counts == {"queued": 0, "sending": 0, "sent": 53, "deferred": 2,
                              "failed": 5, "cancelled": 0}
    assert summary.total == 60 and summary.remaining == 2
    assert (summary.bounces, summary.complaints) == (4, 1)  # not the one who had left
    assert summary.bounce_rate == pytest.approx(4 / 53)
    assert summary.over_limits
    assert summary.first_sent_at == summary.last_sent_at == T0
    # the send has been sending for 30 s, not the whole minute the rate looks back over
    assert summary.rate_per_second == pytest.approx(53 / 30)
    assert summary.eta_seconds == pytest.approx(2 / (53 / 30))
    first_minute = reports.send_summary(engine, send_id, T0 + timedelta(seconds=12))
    assert first_minute.rate_per_second == pytest.approx(53 / 12)  # not 53 / 60 at 12 s
    later = reports.send_summary(engine, send_id, T0 + timedelta(minutes=5))
    assert later.rate_per_second == 0 and later.eta_seconds is None
    assert [s.slug for s in reports.send_summaries(engine, T0)] == [SLUG]


def test_failures_group_by_reason_largest_first(seed_config: Config, database_url: str) -> None:
    engine, send_id = scripted_send(seed_config, database_url)
    assert reports.failures_by_reply(engine, send_id) == [
        ("failed", "550 5.1.1 No such user", 3),
        ("deferred", "451 4.7.1 Try again later", 2),
        ("failed", "hard: 5.1.1 mailbox gone", 1),
        ("failed", "not sent: subscriber unsubscribed", 1),
    ]


@pytest.mark.parametrize(("reply", "group"), [
    ("550 5.1.1 <u7@example.net>: Recipient address rejected: User unknown in virtual "
     "mailbox table", "550 5.1.1 <address>: Recipient address rejected: User unknown in "
     "virtual mailbox table"),
    ("550-5.1.1 The email account that you tried to reach does not exist. Learn more at\n"
     "550 5.1.1  https://support.google.com/mail/?p=NoSuchUser d9443c01a7336-1f6e5f2c8e5si12"
     "3456plj.123 - gsmtp", "550 5.1.1 The email account that you tried to reach does not "
     "exist. Learn more at https://support.google.com/mail/?p=NoSuchUser <id> - gsmtp"),
    ("complaint:  abuse report", "complaint: abuse report"),
    ("hard: 5.1.1 mailbox gone", "hard: 5.1.1 mailbox gone"),
    ("451 4.7.1 Try again later (gave up after 8 attempts)",
     "451 4.7.1 Try again later (gave up after # attempts)"),
    ("421 4.7.0 [TSS04] Messages from 203.0.113.9 temporarily deferred",
     "421 4.7.0 [TSS04] Messages from <id> temporarily deferred"),
    ("connection: SMTPConnectError: Error connecting to 127.0.0.1 on port 2525",
     "connection: SMTPConnectError: Error connecting to <id> on port #"),
])
def test_replies_that_differ_only_per_recipient_fall_in_one_group(reply: str,
                                                                  group: str) -> None:
    assert reports.reply_group(reply) == group


def test_rows_page_by_id_filtered_by_state_and_reply(seed_config: Config,
                                                     database_url: str) -> None:
    engine, send_id = scripted_send(seed_config, database_url)
    first = reports.deliveries_page(engine, send_id, limit=25)
    second = reports.deliveries_page(engine, send_id, after_id=first[-1].id, limit=25)
    rest = reports.deliveries_page(engine, send_id, after_id=second[-1].id, limit=25)
    ids = [row.id for row in first + second + rest]
    assert len(ids) == 60 and ids == sorted(set(ids))
    failed = reports.deliveries_page(engine, send_id, states=["failed"])
    assert sorted(row.email for row in failed) == [
        "u0@example.net", "u11@example.net", "u1@example.net", "u2@example.net",
        "u5@example.net"]
    gone = reports.deliveries_page(engine, send_id, reply_contains="_user%")
    assert gone == []  # the text is matched as it is, never as a LIKE pattern
    no_user = reports.deliveries_page(engine, send_id, states=["failed", "deferred"],
                                      reply_contains="No such user")
    assert [row.email for row in no_user] == ["u0@example.net", "u1@example.net",
                                              "u2@example.net"]
    mine = reports.subscriber_deliveries(engine, no_user[0].subscriber_id)
    assert [(slug, row.status) for slug, row in mine] == [(SLUG, "failed")]


def test_progress_is_cumulative_over_the_sends_life(database_url: str) -> None:
    engine = open_database(database_url)
    add_confirmed(engine, 30)
    rendered = RenderedEmail(slug="p", subject="s", language="en", html="<p>h</p>", text="t")
    send_id = outbox.start_send(engine, "tag:p", rendered, T0)
    for minute in range(3):  # ten messages a minute
        now = T0 + timedelta(minutes=minute)
        batch = outbox.claim_batch(engine, send_id, "w", now, 10)
        outbox.record_results(engine, [outbox.Result(d.id, outbox.SENT, "250 ok")
                                       for d in batch], now)
    series = reports.progress_series(engine, send_id, points=3)
    assert [n for _at, n in series] == [10, 20, 30]
    assert series[0][0] > T0 and series[-1][0] > T0 + timedelta(minutes=2)
    assert reports.send_summary(engine, send_id, T0).average_rate == pytest.approx(30 / 120)


def site_with_bounces(tmp_path: Path, port: int, url: str) -> Path:
    return write_config_file(tmp_path, port, url, "[sending]\ncatch_up_hours = 100000\n")


def test_report_warns_over_the_bounce_limit_and_gives_json_for_scripts(
        tmp_path: Path, database_url: str) -> None:
    with FaultySMTP(lambda rcpt, attempt: "550" if rcpt == "u0@example.net" else "ok") as server:
        config_file = site_with_bounces(tmp_path, server.port, database_url)
        add_confirmed(open_database(database_url), 20)
        assert run_publisher_here(config_file, "send", SLUG, "--yes").returncode == 0
    text = run_publisher_here(config_file, "report", SLUG)
    assert text.returncode == 0, text.stderr
    assert "19 sent" in text.stdout and "bounces    1 (5.26% of sent" in text.stdout
    assert "WARNING: bounce rate 5.26% is over the 2% mailbox providers accept" in text.stdout
    assert "      1 failed   550 5.1.1 No such user" in text.stdout
    data = json.loads(run_publisher_here(config_file, "report", SLUG, "--json").stdout)
    assert set(data) == {
        "issue", "audience", "subject", "state", "counts", "total", "by_language",
        "created_at", "finished_at", "first_sent_at", "last_sent_at", "duration_seconds",
        "average_rate", "rate_per_second", "eta_seconds", "bounces", "bounce_rate",
        "complaints", "complaint_rate", "limits", "warnings", "pruned", "failures", "clicks"}
    assert data["clicks"] == []  # a send that did not count its links' clicks
    assert data["state"] == "done" and data["counts"]["sent"] == 19 and data["total"] == 20
    assert data["audience"] is None  # every confirmed subscriber
    assert data["by_language"] == {"zh-CN": data["counts"]}  # the seed site's one language
    assert data["limits"] == {"bounce_rate": 0.02, "complaint_rate": 0.003}
    assert data["failures"] == [{"state": "failed", "reply": "550 5.1.1 No such user",
                                 "count": 1}]
    assert len(data["warnings"]) == 1 and not data["pruned"]
    missing = run_publisher_here(config_file, "report", "no-such-issue")
    assert missing.returncode != 0 and "has not been sent" in missing.stderr


def test_status_shows_state_cancelled_rows_rate_and_eta(tmp_path: Path,
                                                        database_url: str) -> None:
    config_file = site_with_bounces(tmp_path, 2525, database_url)
    engine = open_database(database_url)
    add_confirmed(engine, 5)
    rendered = RenderedEmail(slug=SLUG, subject="s", language="en", html="<p>h</p>", text="t")
    send_id = outbox.start_send(engine, "tag:x", rendered, T0)
    control.cancel(engine, send_id, T0)
    result = run_publisher_here(config_file, "status")
    assert result.returncode == 0, result.stderr
    header = next(line for line in result.stdout.splitlines() if "issue" in line)
    assert [word for word in header.replace("┃", " ").split()] == [
        "issue", "state", *outbox.STATES, "rate", "ETA", "started", "finished"]
    row = next(line for line in result.stdout.splitlines() if SLUG in line)
    assert row.replace("│", " ").split()[1:9] == ["cancelled", "0", "0", "0", "0", "0", "5",
                                                  "-"]


def read_until(stream: IO[str], text: str) -> str:
    """Lines of a child's output up to the first that contains `text`."""
    seen = ""
    for line in stream:
        seen += line
        if text in line:
            return seen
    raise AssertionError(f"{text!r} never came; output was:\n{seen}")


def watcher(config_file: Path) -> subprocess.Popen[str]:
    """`status --watch` into a pipe, block-buffered as when piped to a file or `tee`."""
    buffered = {k: v for k, v in CLI_ENV.items() if k != "PYTHONUNBUFFERED"}
    return start_publisher(config_file, "status", "--watch", text=True, env=buffered)


def test_status_watch_follows_a_send_until_nothing_is_left_to_send(
        seed_config: Config, tmp_path: Path, database_url: str) -> None:
    with Catcher(tmp_path / "Maildir") as catcher:
        config_file = site_with_bounces(tmp_path, catcher.port, database_url)
        config = smtp_site(seed_config, catcher.port, database_url=database_url)
        engine = open_database(database_url)
        add_confirmed(engine, 40)
        send_id = start(engine, config, ready(config, SEED_ISSUE), T0)
        watch = watcher(config_file)
        assert watch.stdout is not None
        first = read_until(watch.stdout, SLUG)  # a snapshot while all 40 are queued
        assert "sending" in first.split(SLUG)[1].split("\n")[0]
        run_send(engine, config, SECRETS, send_id, utc_now, DrainOptions())
        rest, errors = watch.communicate(timeout=60)  # it ends by itself
    assert watch.returncode == 0, errors
    last = rest.split("issue")[-1]
    row = next(line for line in last.splitlines() if SLUG in line).replace("│", " ").split()
    assert row[1] == "done" and row[2:8] == ["0", "0", "40", "0", "0", "0"]  # the end


def test_status_watch_waits_for_a_settled_send_to_be_marked_done(
        tmp_path: Path, database_url: str) -> None:
    """The drain marks a send done a moment after its last row settles (a daemon at its next
    step): the watch's last snapshot shows `done`, not `sending` with nothing left."""
    config_file = site_with_bounces(tmp_path, 2525, database_url)
    engine = open_database(database_url)
    add_confirmed(engine, 3)
    rendered = RenderedEmail(slug=SLUG, subject="s", language="en", html="<p>h</p>", text="t")
    send_id = outbox.start_send(engine, "tag:x", rendered, T0)
    with engine.begin() as conn:  # every row settled just now, the send not yet marked done
        conn.execute(deliveries.update().values(status=outbox.SENT, sent_at=utc_now(),
                                                updated_at=utc_now()))
    watch = watcher(config_file)
    assert watch.stdout is not None
    first = read_until(watch.stdout, SLUG)
    assert "sending" in first.split(SLUG)[1].split("\n")[0]
    outbox.mark_done(engine, send_id, utc_now())
    rest, errors = watch.communicate(timeout=30)
    assert watch.returncode == 0, errors
    row = next(line for line in rest.split("issue")[-1].splitlines() if SLUG in line)
    assert row.replace("│", " ").split()[1] == "done"


def test_ctrl_c_stops_watching_a_send_that_waits(tmp_path: Path, database_url: str) -> None:
    config_file = site_with_bounces(tmp_path, 2525, database_url)
    engine = open_database(database_url)
    add_confirmed(engine, 3)
    rendered = RenderedEmail(slug=SLUG, subject="s", language="en", html="<p>h</p>", text="t")
    outbox.start_send(engine, "tag:x", rendered, T0)  # queued, and no one sends it
    watch = watcher(config_file)
    assert watch.stdout is not None
    read_until(watch.stdout, SLUG)
    read_until(watch.stdout, SLUG)  # a second snapshot: still watching
    os.kill(watch.pid, signal.SIGINT)
    _rest, errors = watch.communicate(timeout=30)
    assert watch.returncode == 0, errors
    assert "Traceback" not in errors
