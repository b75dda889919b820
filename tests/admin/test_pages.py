"""The console's pages and actions over real HTTP, on sends drained through a real SMTP server
that refuses some recipients."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from publisher.config import Config
from publisher.sending import control, outbox
from publisher.sending.drain import options_from
from publisher.sending.send_issue import ready, run_send, start
from publisher.subscribers import store
from tests.admin.helpers import Served, console_served, csrf_of, log_in, with_language
from tests.conftest import SEED_ISSUE
from tests.sending.faulty_smtp import FaultySMTP
from tests.sending.helpers import SECRETS, add_confirmed, smtp_site

REFUSED = 60  # u0 … u59 get a 550 at RCPT
AUDIENCE = 70


@dataclass
class Console:
    site: Served
    client: httpx.Client
    send_id: int

    def post(self, path: str, **data: str) -> httpx.Response:
        token = csrf_of(self.client, "/admin/sends")
        return self.client.post(path, data={"csrf": token, **data},
                                headers={"Origin": self.site.url})


def refusing(recipient: str, attempt: int) -> str:
    number = int(recipient.split("@")[0][1:])
    return "550" if number < REFUSED else "ok"


@pytest.fixture
def drained(seed_config: Config) -> Iterator[Console]:
    """70 subscribers, a send of the seed issue drained, 60 refused; an operator signed in."""
    with FaultySMTP(refusing) as smtp, console_served(smtp_site(seed_config, smtp.port)) as site:
        add_confirmed(site.engine, AUDIENCE)
        send_id = start(site.engine, site.config, ready(site.config, SEED_ISSUE), site.clock())
        run_send(site.engine, site.config, SECRETS, send_id, site.clock,
                 options_from(site.config))
        with site.client() as client:
            log_in(client)
            yield Console(site, client, send_id)


def rows_of(html: str, status: str) -> list[str]:
    return re.findall(rf'<tr data-delivery="(\d+)" data-status="{status}">', html)


def test_a_send_page_lists_failures_with_their_reply_keyset_paged_and_warns_over_limits(
        drained: Console) -> None:
    client, send_id = drained.client, drained.send_id
    figures = client.get(f"/admin/sends/{send_id}/live.json").json()["sends"][0]
    assert (figures["counts"]["sent"], figures["counts"]["failed"]) == (10, 60)
    assert figures["total"] == AUDIENCE and figures["over_limits"]
    assert (figures["sent"], figures["percent"]) == (10, 14.3)  # progress: delivered mail only
    first = client.get(f"/admin/sends/{send_id}")
    assert len(rows_of(first.text, "failed")) == 50
    assert 'role="alert" data-field="warning"' in first.text
    assert first.text.count("550") >= 50
    found = re.search(r'href="([^"]+after=(\d+))#deliveries" rel="next"', first.text)
    assert found and found.group(2) == rows_of(first.text, "failed")[-1]
    rest = client.get(found.group(1).replace("&amp;", "&"))
    assert len(rows_of(rest.text, "failed")) == 10 and 'rel="next"' not in rest.text
    assert set(rows_of(first.text, "failed")).isdisjoint(rows_of(rest.text, "failed"))
    sent_only = client.get(f"/admin/sends/{send_id}", params={"state": "sent"})
    assert len(rows_of(sent_only.text, "sent")) == 10
    nothing = client.get(f"/admin/sends/{send_id}", params={"reply": "no such reply"})
    assert not rows_of(nothing.text, "failed")


def test_retry_failed_puts_the_failures_back_in_the_queue_for_the_daemon(
        drained: Console) -> None:
    done = drained.post(f"/admin/sends/{drained.send_id}/retry")
    assert done.status_code == 303 and "notice=retried" in done.headers["location"]
    counts = outbox.counts(drained.site.engine, drained.send_id)
    assert (counts["queued"], counts["failed"], counts["sent"]) == (60, 0, 10)
    assert control.send_state(drained.site.engine, drained.send_id) == outbox.SEND_ACTIVE
    page = drained.client.get(done.headers["location"])
    assert "60" in re.search(r'<p class="notice" role="status">([^<]*)', page.text).group(1)  # type: ignore[union-attr]


def test_pause_resume_and_a_cancel_that_asks_first(seed_config: Config) -> None:
    with console_served(seed_config) as site, site.client() as client:
        add_confirmed(site.engine, 30)
        send_id = start(site.engine, site.config, ready(site.config, SEED_ISSUE), site.clock())
        log_in(client)
        console = Console(site, client, send_id)
        base = f"/admin/sends/{send_id}"
        assert "notice=paused" in console.post(base + "/pause").headers["location"]
        assert control.send_state(site.engine, send_id) == outbox.SEND_PAUSED
        assert "notice=unchanged" in console.post(base + "/pause").headers["location"]
        assert "notice=resumed" in console.post(base + "/resume").headers["location"]
        assert control.send_state(site.engine, send_id) == outbox.SEND_ACTIVE
        question = client.get(base + "/cancel")
        assert question.status_code == 200
        assert f'<form method="post" action="{base}/cancel"' in question.text
        assert control.send_state(site.engine, send_id) == outbox.SEND_ACTIVE
        cancelled = console.post(base + "/cancel", back="list")
        assert cancelled.headers["location"].startswith("/admin/sends?notice=cancelled&n=30")
        assert outbox.counts(site.engine, send_id)["cancelled"] == 30
        listing = client.get(cancelled.headers["location"])
        assert f'data-send="{send_id}" data-state="cancelled"' in listing.text
        assert "/pause" not in listing.text and "/cancel" not in listing.text


def test_erase_asks_first_then_the_persons_page_is_gone(drained: Console) -> None:
    client, engine = drained.client, drained.site.engine
    with engine.begin() as conn:
        store.set_timezone(conn, 1, "Europe/Berlin", drained.site.clock())
    person = client.get("/admin/subscribers/1")
    assert person.status_code == 200 and "u0@example.net" in person.text
    assert "550" in person.text  # the delivery it received, with its reply
    assert '<dd data-field="timezone">Europe/Berlin</dd>' in person.text
    assert client.get("/admin/subscribers/1/erase").status_code == 200
    with engine.connect() as conn:
        assert store.get(conn, 1) is not None
    erased = drained.post("/admin/subscribers/1/erase")
    assert erased.headers["location"] == "/admin/subscribers?notice=erased"
    assert client.get("/admin/subscribers/1").status_code == 404
    found = client.get("/admin/subscribers", params={"q": "u0@example.net"})
    assert 'data-subscriber="1"' not in found.text
    page = client.get(f"/admin/sends/{drained.send_id}")
    assert "u0@example.net" not in page.text  # its deliveries are blanked too


def test_unsubscribe_from_the_console_is_an_event_in_the_persons_history(
        drained: Console) -> None:
    done = drained.post("/admin/subscribers/65/unsubscribe")
    assert done.headers["location"] == "/admin/subscribers/65?notice=unsubscribed"
    history = drained.client.get(done.headers["location"]).text
    assert 'data-event="unsubscribed"' in history and "方式：operator" in history


def test_subscriber_search_is_keyset_paged_and_filtered_by_status(drained: Console) -> None:
    client = drained.client
    first = client.get("/admin/subscribers", params={"q": "EXAMPLE.NET"})
    ids = re.findall(r'<tr data-subscriber="(\d+)">', first.text)
    assert len(ids) == 50
    found = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert found
    rest = re.findall(r'<tr data-subscriber="(\d+)">',
                      client.get(found.group(1).replace("&amp;", "&")).text)
    assert len(rest) == AUDIENCE - 50 and not set(ids) & set(rest)
    bounced = client.get("/admin/subscribers", params={"status": "bounced"})
    assert len(re.findall(r'<tr data-subscriber=', bounced.text)) == 50  # 60, paged


def test_unknown_sends_and_subscribers_are_404(drained: Console) -> None:
    for path in ("/admin/sends/999", "/admin/sends/999/cancel", "/admin/subscribers/999"):
        assert drained.client.get(path).status_code == 404, path
    assert drained.post("/admin/sends/999/pause").status_code == 404


@pytest.mark.parametrize(("language", "words"), [
    ("en", ["Sends", "Subscribers", "Charts", "Sign out", ">sending<", "Pause"]),
    ("zh-CN", ["发送", "订阅者", "图表", "退出登录", ">发送中<", "暂停"]),
])
def test_the_console_speaks_the_sites_language(seed_config: Config, language: str,
                                               words: list[str]) -> None:
    with console_served(with_language(seed_config, language)) as site, \
            site.client() as client:
        add_confirmed(site.engine, 2)
        start(site.engine, site.config, ready(site.config, SEED_ISSUE), site.clock())
        log_in(client)
        page = client.get("/admin")
        assert f'<html lang="{language}">' in page.text
        for word in words:
            assert word in page.text, word
