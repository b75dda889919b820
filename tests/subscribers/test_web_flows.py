"""The subscriber flows over real HTTP, with a real SMTP catcher and headless Chromium."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import sync_playwright
from sqlalchemy.engine import Engine

from publisher.config import Config
from publisher.db import open_database
from publisher.dev.catcher import Catcher
from publisher.dev.screenshot import CHROMIUM, CHROMIUM_ARGS
from publisher.sending.drain import DrainOptions
from publisher.sending.send_issue import ready, run_send, start
from publisher.site.build import build_site
from publisher.subscribers import store
from publisher.subscribers.addresses import normalise_address
from publisher.tokens import Purpose, TokenSigner
from publisher.web.app import create_app
from publisher.web.state import WebState
from tests import web_client
from tests.conftest import SEED_ISSUE, LiveServer
from tests.sending.helpers import SECRETS, wait_until
from tests.servers import free_port
from tests.subscribers.helpers import one_offs_settled, web_config

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Site:
    url: str
    config: Config
    engine: Engine
    catcher: Catcher

    def status(self, email: str) -> str | None:
        with self.engine.connect() as conn:
            found = store.find(conn, normalise_address(email))
        return found.status if found else None

    def mails(self) -> list[EmailMessage]:
        """What the catcher holds once the confirmation mails written so far are sent."""
        wait_until(lambda: one_offs_settled(self.engine), 30)
        parsed = [message_from_bytes(raw, policy=policy.default)
                  for raw in self.catcher.messages()]
        return [m for m in parsed if isinstance(m, EmailMessage)]

    def post(self, path: str, data: dict[str, str], **headers: str) -> httpx.Response:
        return web_client.post(self.url + path, data=data, headers={"Origin": self.url, **headers},
                               follow_redirects=False)


@contextmanager
def served(seed_config: Config, tmp_path: Path,
           limiter_clock: Callable[[], float] | None = None) -> Iterator[Site]:
    """The seed site built and served on loopback, mailing into a catcher; with
    `limiter_clock`, the app's rate limits (their own rates and bursts) read that clock."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with Catcher(tmp_path / "Maildir") as catcher:
        config = web_config(seed_config, base, catcher.port)
        build_site(config, NOW)
        state = WebState(config, SECRETS)
        if limiter_clock is not None:
            state.ip_limiter.clock = state.address_limiter.clock = limiter_clock
        app = create_app(state)
        with LiveServer(app, port):
            yield Site(base, config, open_database(config.database_url), catcher)


@pytest.fixture
def site(seed_config: Config, tmp_path: Path) -> Iterator[Site]:
    with served(seed_config, tmp_path) as running:
        yield running


def confirm_link(mail: EmailMessage) -> str:
    body = mail.get_body(("plain",))
    assert body is not None
    found = re.search(r"https?://\S+/confirm/\S+", body.get_content())
    assert found
    return found.group(0)


@pytest.mark.chromium
def test_subscribe_confirm_and_one_click_unsubscribe_as_a_person_and_a_mailbox_would(
    site: Site, tmp_path: Path
) -> None:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 375, "height": 900})
        page.goto(site.url + "/")
        page.fill("#subscribe-email", "Reader@Example.org")
        page.fill("#subscribe-name", "读者")
        with page.expect_navigation():
            page.click("form[action$='/subscribe'] button[type=submit]")
        assert page.text_content("h1") == "请查收邮件", page.content()[:3000]
        assert site.status("reader@example.org") == "pending"
        (mail,) = site.mails()
        assert mail["To"].addresses[0].addr_spec == "Reader@example.org"
        assert mail["Subject"] == f"请确认订阅《{site.config.site.title}》"
        page.goto(confirm_link(mail))
        assert site.status("reader@example.org") == "pending"  # GET changes nothing
        with page.expect_navigation():
            page.click("button[type=submit]")
        assert page.text_content("h1") == "订阅成功"
        page.screenshot(path=str(tmp_path / "confirmed.png"))
        browser.close()
    assert site.status("reader@example.org") == "confirmed"

    engine = site.engine
    send_id = start(engine, site.config, ready(site.config, SEED_ISSUE), NOW)
    run_send(engine, site.config, SECRETS, send_id, lambda: NOW, DrainOptions())
    (issue_mail,) = [m for m in site.mails() if m["List-Id"]]
    assert issue_mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = issue_mail["List-Unsubscribe"].split(",")[0].strip().strip("<>")
    one_click = web_client.post(url, data={"List-Unsubscribe": "One-Click"}, follow_redirects=False)
    assert one_click.status_code == 200
    assert site.status("reader@example.org") == "unsubscribed"
    again = web_client.post(url, files={"List-Unsubscribe": (None, "One-Click")},
                            follow_redirects=False)
    assert again.status_code == 200
    with engine.connect() as conn:
        found = store.find(conn, normalise_address("reader@example.org"))
        assert found is not None
        history = store.events(conn, found.id)
    assert [e for e, _, _ in history].count("unsubscribed") == 1


def test_the_answer_is_the_same_for_new_and_known_addresses_and_confirmed_ones_get_no_mail(
    site: Site,
) -> None:
    with site.engine.begin() as conn:
        store.add(conn, "known@example.org", "", store.CONFIRMED,
                        store.Consent("import", NOW), NOW)
    new = site.post("/subscribe", {"email": "new@example.org"})
    known = site.post("/subscribe", {"email": "known@example.org"})
    assert new.status_code == known.status_code == 303
    assert new.headers["location"] == known.headers["location"] == "/subscribe/sent"
    assert new.text == known.text
    assert [m["To"].addresses[0].addr_spec for m in site.mails()] == ["new@example.org"]
    site.post("/subscribe", {"email": "new@example.org"})
    assert len(site.mails()) == 1  # no second mail within the resend window


@pytest.mark.parametrize("path", ["/confirm/", "/unsubscribe/", "/preferences/"])
def test_bad_or_tampered_tokens_get_400_never_500(site: Site, path: str) -> None:
    signer = TokenSigner(SECRETS.secret_keys)
    wrong_purpose = signer.sign(Purpose.CSRF, {"id": 1})
    foreign = TokenSigner(("another-secret-entirely-123",)).sign(Purpose.UNSUBSCRIBE, {"id": 1})
    for token in ("garbage", "a.b.c", wrong_purpose, foreign, "x" * 700,
                  signer.sign(Purpose.UNSUBSCRIBE, {"id": "1"})):
        for method in ("GET", "POST"):
            response = web_client.request(method, site.url + path + token,
                                          data={"List-Unsubscribe": "One-Click"})
            assert response.status_code in (400, 404), (method, token)


def test_concurrent_double_submits_make_one_subscriber_and_one_mail(site: Site) -> None:
    barrier = threading.Barrier(4)
    codes: list[int] = []

    def submit() -> None:
        barrier.wait()
        codes.append(site.post("/subscribe", {"email": "twice@example.org"}).status_code)

    threads = [threading.Thread(target=submit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert codes == [303] * 4
    assert store.stats(site.engine)["pending"] == 1
    assert len(site.mails()) == 1


def test_a_burst_from_one_address_is_rate_limited_and_the_app_keeps_serving(
    seed_config: Config, tmp_path: Path,
) -> None:
    # The limiter's clock stands still: however slow the machine, no token refills during
    # the burst (on the real clock, 100 posts over 12 s refilled one).
    with served(seed_config, tmp_path, limiter_clock=lambda: 1000.0) as site:
        codes = [site.post("/subscribe", {"email": f"burst{n}@example.org"}).status_code
                 for n in range(100)]
        assert codes.count(303) == 5 and codes.count(429) == 95
        assert web_client.get(site.url + "/").status_code == 200
        assert store.stats(site.engine)["pending"] == 5


def test_cross_site_posts_are_refused_and_the_honeypot_swallows_bots(site: Site) -> None:
    bare = web_client.post(site.url + "/subscribe", data={"email": "a@example.org"})
    assert bare.status_code == 403
    foreign = site.post("/subscribe", {"email": "a@example.org"}, Origin="https://evil.example")
    assert foreign.status_code == 403
    with web_client.Client(base_url=site.url) as browser:  # keeps the form's cookie, as a browser
        token = re.search(r'name="csrf" value="([^"]+)"', browser.get("/subscribe").text)
        assert token
        with_token = browser.post("/subscribe",
                                  data={"email": "a@example.org", "csrf": token.group(1)})
    assert with_token.status_code == 303
    bot = site.post("/subscribe", {"email": "bot@example.org", "website": "http://spam"})
    assert bot.status_code == 303 and site.status("bot@example.org") is None


def test_invalid_addresses_get_a_clear_message_and_nothing_is_stored(site: Site) -> None:
    response = site.post("/subscribe", {"email": "x@example.org\r\nBcc: y@example.org"})
    assert response.status_code == 400 and "邮箱地址：含有控制字符" in response.text
    assert store.stats(site.engine)["pending"] == 0


def test_pages_carry_security_headers(site: Site) -> None:
    for path in ("/", "/subscribe", "/unsubscribe/bad", "/feed.atom"):
        headers = web_client.get(site.url + path).headers
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "same-origin"


def test_preferences_let_an_unsubscribed_reader_come_back(site: Site) -> None:
    with site.engine.begin() as conn:
        added, _ = store.add(conn, "back@example.org", "", store.CONFIRMED,
                                   store.Consent("import", NOW), NOW)
        store.unsubscribe(conn, added.id, NOW)
    token = TokenSigner(SECRETS.secret_keys).sign(Purpose.PREFERENCES, {"id": added.id})
    page = web_client.get(f"{site.url}/preferences/{token}")
    assert page.status_code == 200 and "重新订阅" in page.text
    site.post(f"/preferences/{token}", {"action": "subscribe"})
    assert site.status("back@example.org") == "confirmed"
