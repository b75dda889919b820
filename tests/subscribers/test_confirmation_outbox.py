"""Confirmation mails go through the durable outbox: the request only writes a row (so known
and unknown addresses answer in the same time), and whatever drains the outbox sends it,
retried with backoff while the SMTP server is down (real uvicorn, aiosmtpd, SQLite and
PostgreSQL, and the real `publisher serve` and `publisher status` in subprocesses)."""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from sqlalchemy.engine import Engine

from publisher.config import Config
from publisher.db import deliveries, open_database
from publisher.dev.catcher import Catcher
from publisher.mail.verp import delivery_from_verp
from publisher.ratelimit import KeyedLimiter
from publisher.sending import oneoff, outbox, reports
from publisher.sending.daemon import Daemon
from publisher.subscribers import store
from publisher.subscribers.addresses import normalise_address
from publisher.web.app import create_app
from publisher.web.state import WebState
from tests import web_client
from tests.admin.helpers import console_served, log_in
from tests.cli import run_publisher_here, start_publisher
from tests.conftest import LiveServer
from tests.sending.helpers import SECRETS, add_confirmed, smtp_site, wait_until, write_config_file
from tests.servers import free_port
from tests.subscribers.helpers import one_offs_settled, web_config
from tests.subscribers.test_web_flows import confirm_link
from tests.timing import gap_and_bound_ms, timed_in_pairs

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def unlimited() -> KeyedLimiter:
    return KeyedLimiter(rate=10**6, per=1, burst=10**6, clock=time.monotonic)


@contextmanager
def serving(seed_config: Config, smtp_port: int, **smtp: Any) -> Iterator[tuple[str, Config]]:
    """The web app on loopback, mailing to smtp_port, with limits out of the way (a
    measurement, not a burst); its URL and config."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = smtp_site(web_config(seed_config, url, smtp_port), smtp_port, **smtp)
    state = WebState(config, SECRETS, ip_limiter=unlimited(), address_limiter=unlimited())
    with LiveServer(create_app(state), port):
        yield url, config


def subscribe(client: httpx.Client, url: str, email: str) -> float:
    """POST /subscribe as the archive's form does; the seconds the answer took."""
    started = time.perf_counter()
    response = client.post(url + "/subscribe", data={"email": email}, headers={"Origin": url})
    elapsed = time.perf_counter() - started
    assert response.status_code == 303 and response.headers["location"] == "/subscribe/sent"
    return elapsed


def confirmation_rows(engine: Engine) -> list[tuple[str, int, str]]:
    """(status, attempts, last reply) of each confirmation mail row."""
    send_id = outbox.find_send(engine, oneoff.CONFIRM)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(deliveries.c.status, deliveries.c.attempts,
                                      deliveries.c.last_reply)
                            .where(deliveries.c.send_id == send_id)
                            .order_by(deliveries.c.id)).all()
    return [(str(s), int(a), str(r or "")) for s, a, r in rows]


# strangers (4): who is subscribed leaks through timing

def test_answers_for_confirmed_and_unknown_addresses_take_the_same_time(
    seed_config: Config, tmp_path: Path, report_figure: Callable[[str], None]
) -> None:
    rounds = 40
    engine = open_database(seed_config.database_url)
    known = add_confirmed(engine, rounds + 5, domain="known.example")
    with Catcher(tmp_path / "Maildir") as catcher:
        with serving(seed_config, catcher.port) as (url, _), web_client.Client() as client:
            for n in range(5):  # warm up: connection, templates, the outbox's send row
                subscribe(client, url, known[n])
                subscribe(client, url, f"warm{n}@unknown.example")
            known_s, unknown_s = timed_in_pairs(
                rounds, lambda n: subscribe(client, url, known[5 + n]),
                lambda n: subscribe(client, url, f"new{n}@unknown.example"))
            wait_until(lambda: one_offs_settled(engine), 30)
        mails = len(catcher.messages())
    known_ms = statistics.median(known_s) * 1000
    unknown_ms = statistics.median(unknown_s) * 1000
    gap, bound = gap_and_bound_ms(unknown_s, known_s, floor_ms=5.0)
    report_figure(f"POST /subscribe median over {rounds}: confirmed address {known_ms:.1f} ms, "
                  f"unknown address {unknown_ms:.1f} ms (median difference of pairs "
                  f"{gap:+.1f} ms)")
    assert mails == rounds + 5  # every unknown address got its mail, the known ones none
    assert abs(gap) < bound, (known_ms, unknown_ms, gap)  # it was 18 to 28 ms


# newcomer (3): a confirmation mail that could not be sent is lost, silently

def test_a_confirmation_written_while_the_smtp_server_is_down_is_sent_once_it_is_back(
    seed_config: Config, tmp_path: Path
) -> None:
    smtp_port = free_port()  # nothing listens there yet
    engine = open_database(seed_config.database_url)
    with serving(seed_config, smtp_port, backoff_base_seconds=0.5, backoff_max_seconds=1.0,
                 max_attempts=50) as (url, _), web_client.Client() as client:
        subscribe(client, url, "reader@example.org")
        wait_until(lambda: confirmation_rows(engine)[0][0] == outbox.DEFERRED, 30)
        status, attempts, reply = confirmation_rows(engine)[0]
        assert attempts >= 1 and "connection" in reply, reply
        (summary,) = [s for s in reports.send_summaries(engine, datetime.now(UTC))
                      if s.slug == oneoff.CONFIRM]  # what the console lists
        assert summary.counts[outbox.DEFERRED] == 1 and summary.remaining == 1
        with Catcher(tmp_path / "Maildir", port=smtp_port) as catcher:
            wait_until(lambda: confirmation_rows(engine)[0][0] == outbox.SENT, 30)
            time.sleep(1.5)  # a second mail would have come by now
            received = catcher.messages()
        status, attempts, _ = confirmation_rows(engine)[0]
        assert status == outbox.SENT and attempts >= 2
        assert len(received) == 1
        mail = message_from_bytes(received[0], policy=policy.default)
        assert isinstance(mail, EmailMessage)
        confirmed = client.post(confirm_link(mail))
    assert confirmed.status_code == 303
    with engine.connect() as conn:
        found = store.find(conn, normalise_address("reader@example.org"))
    assert found is not None and found.status == store.CONFIRMED


def test_status_shows_a_deferred_confirmation_mail(seed_config: Config, tmp_path: Path) -> None:
    smtp_port = free_port()  # down
    config_file = write_config_file(tmp_path / "cli", smtp_port, seed_config.database_url)
    engine = open_database(seed_config.database_url)
    with serving(seed_config, smtp_port) as (url, _), web_client.Client() as client:
        subscribe(client, url, "reader@example.org")
        wait_until(lambda: confirmation_rows(engine)[0][0] == outbox.DEFERRED, 30)
    shown = run_publisher_here(config_file, "status", oneoff.CONFIRM)
    assert shown.returncode == 0, shown.stderr
    row = next(line for line in shown.stdout.splitlines() if oneoff.CONFIRM in line)
    queued, sending, sent, deferred, failed = row.split("│")[3:8]
    assert [int(n) for n in (queued, sending, sent, deferred, failed)] == [0, 0, 0, 1, 0], row
    assert "reader@example.org" in shown.stdout  # the last errors name the row


def test_the_console_shows_a_deferred_confirmation_mail_with_its_reply(
    seed_config: Config
) -> None:
    smtp_port = free_port()  # down
    config = smtp_site(seed_config, smtp_port)
    with console_served(config) as served, served.client() as client:
        subscribe(client, served.url, "reader@example.org")
        wait_until(lambda: confirmation_rows(served.engine)[0][0] == outbox.DEFERRED, 30)
        assert log_in(client).status_code == 303
        listing = client.get("/admin/sends")
        send_id = outbox.require_send(served.engine, oneoff.CONFIRM)
        page = client.get(f"/admin/sends/{send_id}")
    assert listing.status_code == 200 and oneoff.CONFIRM in listing.text
    assert page.status_code == 200
    assert "reader@example.org" in page.text and "SMTPConnectError" in page.text


def test_publisher_run_sends_confirmations_and_never_one_to_who_confirmed_meanwhile(
    seed_config: Config, database_url: str, tmp_path: Path
) -> None:
    with Catcher(tmp_path / "Maildir") as catcher:
        config = smtp_site(seed_config, catcher.port, database_url)
        engine = open_database(database_url)
        asked = store.request_subscription(engine, normalise_address("asked@example.org"), "",
                                           store.Consent("form", NOW), NOW)
        gone = store.request_subscription(engine, normalise_address("gone@example.org"), "",
                                          store.Consent("form", NOW), NOW)
        with engine.begin() as conn:
            oneoff.enqueue_confirmation(conn, config, asked, NOW)
            oneoff.enqueue_confirmation(conn, config, gone, NOW)
            store.confirm(conn, gone.id, NOW)  # pressed an older link before the daemon ran
        Daemon(config, SECRETS, engine, lambda: datetime.now(UTC)).tick()
        received = [message_from_bytes(raw, policy=policy.default)
                    for raw in catcher.messages()]
        assert [m["To"].addresses[0].addr_spec for m in received] == ["asked@example.org"]
        assert [row[0] for row in confirmation_rows(engine)] == [outbox.SENT, outbox.FAILED]
        assert confirmation_rows(engine)[1][2] == "not sent: subscriber confirmed"

        with engine.begin() as conn:  # asked again after the resend window: queued anew
            oneoff.enqueue_confirmation(conn, config, asked, NOW)
        assert confirmation_rows(engine)[0][:2] == (outbox.QUEUED, 0)
        with engine.begin() as conn:  # while queued, a second request adds nothing
            oneoff.enqueue_confirmation(conn, config, asked, NOW)
        Daemon(config, SECRETS, engine, lambda: datetime.now(UTC)).tick()
        assert len(catcher.messages()) == 2
    assert outbox.counts(engine, outbox.require_send(engine, oneoff.CONFIRM))[outbox.SENT] == 1


def test_a_lone_serve_sends_the_confirmations_left_in_the_outbox_when_it_starts(
    seed_config: Config, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'publisher.db'}"
    with Catcher(tmp_path / "Maildir") as catcher:
        config = smtp_site(seed_config, catcher.port, url)
        engine = open_database(url)
        asked = store.request_subscription(engine, normalise_address("asked@example.org"), "",
                                           store.Consent("form", NOW), NOW)
        with engine.begin() as conn:
            oneoff.enqueue_confirmation(conn, config, asked, NOW)
        config_file = write_config_file(tmp_path / "serve", catcher.port, url)
        server = start_publisher(config_file, "serve", "--port", str(free_port()),
                                 stdout=subprocess.DEVNULL)
        try:
            wait_until(lambda: len(catcher.messages()) == 1, 60)
        finally:
            server.terminate()
            _, err = server.communicate(timeout=30)
    assert b"Application shutdown complete" in err, err.decode()[-2000:]  # the courier stopped
    assert b'"event": "oneoff_drained", "send": "oneoff:confirm", "sent": 1' in err
    assert [row[0] for row in confirmation_rows(engine)] == [outbox.SENT]


class LockingHandler:
    """Takes each message, and on the first one takes SQLite's write lock from another
    connection (a backup, a stuck script) before answering 250."""

    def __init__(self, database: Path) -> None:
        self.database = database
        self.received: list[bytes] = []
        self.lock: sqlite3.Connection | None = None

    async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:  # noqa: N802
        self.received.append(envelope.original_content)
        if self.lock is None:
            self.lock = sqlite3.connect(self.database, isolation_level=None,
                                        check_same_thread=False)
            self.lock.execute("BEGIN EXCLUSIVE")
        return "250 2.0.0 OK"


def test_a_sent_confirmation_whose_result_could_not_be_written_is_not_sent_again(
    seed_config: Config, tmp_path: Path
) -> None:
    database = tmp_path / "publisher.db"
    handler = LockingHandler(database)
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        config = smtp_site(seed_config, controller.port, f"sqlite:///{database}")
        engine = open_database(config.database_url)
        asked = store.request_subscription(engine, normalise_address("asked@example.org"), "",
                                           store.Consent("form", NOW), NOW)
        with engine.begin() as conn:
            oneoff.enqueue_confirmation(conn, config, asked, NOW)
        oneoffs = oneoff.OneOffs(engine, config, SECRETS, lambda: datetime.now(UTC))
        with pytest.raises(sa.exc.OperationalError, match="locked"):
            asyncio.run(oneoffs.drain())  # sent; its result waits 5 s for the lock, then gives up
        assert handler.lock is not None
        handler.lock.rollback()  # the lock is gone
        settled = asyncio.run(oneoffs.drain())
    finally:
        controller.stop()
    assert settled == {outbox.SENT: 1} and len(handler.received) == 1
    assert confirmation_rows(engine) == [(outbox.SENT, 1, "250 2.0.0 OK")]


def test_with_verp_each_confirmation_has_its_own_return_path(
        seed_config: Config, tmp_path: Path) -> None:
    with Catcher(tmp_path / "Maildir") as catcher:
        config = smtp_site(seed_config, catcher.port)
        settings = config.settings
        config = replace(config, settings=settings.model_copy(update={
            "bounces": settings.bounces.model_copy(update={"verp": True})}))
        engine = open_database(config.database_url)
        now = datetime.now(UTC)
        with engine.begin() as conn:
            for address in ("one@example.org", "two@example.org"):
                reader, _ = store.add(conn, address, "", store.PENDING,
                                      store.Consent("form", now), now)
                oneoff.enqueue_confirmation(conn, config, reader, now)
        asyncio.run(oneoff.OneOffs(engine, config, SECRETS, lambda: datetime.now(UTC)).drain())
        mails = [message_from_bytes(raw, policy=policy.default) for raw in catcher.messages()]
    with engine.connect() as conn:
        rows = dict(conn.execute(sa.select(deliveries.c.email, deliveries.c.id)).all())
    returns = {str(m["X-Envelope-To"]): str(m["X-Envelope-From"]) for m in mails}
    assert set(returns) == set(rows) == {"one@example.org", "two@example.org"}
    for address, path in returns.items():
        assert delivery_from_verp(SECRETS.secret_keys, path) == rows[address], path
