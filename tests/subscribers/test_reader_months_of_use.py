"""What a reader meets over months, over real HTTP with a real SMTP catcher and Chromium:
a refused form that says why in the site's language and keeps what was typed, an old
confirmation link after leaving, Back and Reload after every form, a mistyped URL, and an
address with Chinese characters before or after the @."""

from __future__ import annotations

import re
import time
from dataclasses import replace
from pathlib import Path

import httpx
import itsdangerous
import pytest
from playwright.sync_api import Page, Playwright, Request, sync_playwright

from publisher.config import Config
from publisher.dev.catcher import Catcher
from publisher.dev.screenshot import CHROMIUM, CHROMIUM_ARGS
from publisher.i18n import shipped_catalogs, translator_for
from publisher.subscribers import addresses, store
from publisher.subscribers.addresses import normalise_address
from publisher.tokens import TokenSigner, confirm_token, preferences_token, unsubscribe_token
from publisher.web.app import create_app
from publisher.web.problem_texts import PROBLEM_TEXTS
from publisher.web.state import WebState
from tests import web_client
from tests.conftest import LiveServer
from tests.sending.helpers import SECRETS
from tests.servers import free_port
from tests.subscribers.helpers import web_config
from tests.subscribers.test_web_flows import NOW, Site, confirm_link, site  # noqa: F401

SIGNER = TokenSigner(SECRETS.secret_keys)


def subscribed_and_confirmed(site: Site, email: str) -> store.Subscriber:  # noqa: F811
    with site.engine.begin() as conn:
        added, _ = store.add(conn, email, "", store.CONFIRMED,
                                   store.Consent("form", NOW), NOW)
    return added


def subscriber_id(site: Site, email: str) -> int:  # noqa: F811
    with site.engine.connect() as conn:
        found = store.find(conn, normalise_address(email))
    assert found is not None
    return found.id


def history(site: Site, subscriber_id: int) -> list[tuple[str, str | None, str | None]]:  # noqa: F811
    with site.engine.connect() as conn:
        return store.events(conn, subscriber_id)


def field_value(html: str, field_id: str) -> str:
    found = re.search(rf'<input id="{field_id}"[^>]*\svalue="([^"]*)"', html)
    assert found, html[:3000]
    return found.group(1)


def phone(playwright: Playwright) -> Page:
    """A 375 px wide page in Debian's Chromium (closed with the Playwright context)."""
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    return browser.new_page(viewport={"width": 375, "height": 900})


# (18) a refused form names the field, in the site's language, and keeps what was typed

@pytest.mark.chromium
def test_a_refused_name_or_address_is_named_in_chinese_and_what_was_typed_stays(
    site: Site, tmp_path: Path,  # noqa: F811
) -> None:
    with sync_playwright() as playwright:
        page = phone(playwright)
        page.goto(site.url + "/subscribe")
        page.fill("#subscribe-email", "reader@example.org")
        page.fill("#subscribe-name", "Рaypal")  # a Cyrillic Р among Latin letters
        with page.expect_navigation():
            page.click("button[type=submit]")
        assert page.text_content("h1") == "请检查称呼"
        assert "称呼：混用了不同文字的字母" in (page.text_content("#form-error") or "")
        assert page.input_value("#subscribe-email") == "reader@example.org"
        assert page.input_value("#subscribe-name") == "Рaypal"
        assert page.get_attribute("#subscribe-name", "aria-invalid") == "true"
        assert page.get_attribute("#subscribe-email", "aria-invalid") is None

        page.fill("#subscribe-email", "reader@example")  # passes the browser, not us
        page.fill("#subscribe-name", "读者")
        with page.expect_navigation():
            page.click("button[type=submit]")
        assert page.text_content("h1") == "请检查邮箱地址"
        error = page.text_content("#form-error") or ""
        assert "邮箱地址：@ 后面不是有效的域名" in error
        assert (page.input_value("#subscribe-email"), page.input_value("#subscribe-name")) == (
            "reader@example", "读者")
        assert page.get_attribute("#subscribe-email", "aria-invalid") == "true"
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        body = page.text_content("body") or ""
        assert "@-sign" not in body and "period" not in body  # not the validator's English
        page.screenshot(path=str(tmp_path / "refused-375.png"), full_page=True)
    assert (tmp_path / "refused-375.png").stat().st_size > 0
    assert store.stats(site.engine)["pending"] == 0
    assert site.mails() == []


def test_what_was_typed_comes_back_escaped(site: Site) -> None:  # noqa: F811
    typed = '"><b id=x>读者</b>'
    response = site.post("/subscribe", {"email": "nobody@", "name": typed})
    assert response.status_code == 400
    assert "<b id=x>" not in response.text
    assert field_value(response.text, "subscribe-name") == "&#34;&gt;&lt;b id=x&gt;读者&lt;/b&gt;"
    assert field_value(response.text, "subscribe-email") == "nobody@"


def test_the_refusal_speaks_english_on_an_english_site(
    seed_config: Config, tmp_path: Path,
) -> None:
    port = free_port()
    with Catcher(tmp_path / "Maildir") as catcher:
        config = web_config(seed_config, f"http://127.0.0.1:{port}", catcher.port)
        site_settings = config.settings.site.model_copy(update={"language": "en"})
        config = replace(config, settings=config.settings.model_copy(
            update={"site": site_settings}))
        with LiveServer(create_app(WebState(config, SECRETS)), port) as live:
            response = web_client.post(live.url + "/subscribe",
                                       data={"email": "reader@example.org", "name": "Рaypal"},
                                       headers={"Origin": live.url})
    assert response.status_code == 400
    assert "<h1>Please check the name</h1>" in response.text
    assert "Name: it mixes letters of different alphabets" in response.text
    assert "请" not in response.text


def test_every_refusal_has_a_message_in_every_language() -> None:
    for language in shipped_catalogs():
        _ = translator_for(language).gettext
        for field, kinds in (("email", addresses.EMAIL_PROBLEMS),
                             ("name", addresses.NAME_PROBLEMS)):
            for kind in kinds:
                message = PROBLEM_TEXTS.get((field, kind))
                assert message and _(message), (language, field, kind)


# (22) Chinese characters before the @ cannot be delivered yet; after the @ they can

def test_chinese_before_the_at_is_refused_with_the_reason_and_a_chinese_domain_works(
    site: Site,  # noqa: F811
) -> None:
    refused = site.post("/subscribe", {"email": "用户@例子.中国", "name": "读者"})
    assert refused.status_code == 400
    assert ("邮箱地址：@ 前面用了非拉丁字符，我们的邮件服务器暂时还无法投递到这样的地址"
            in refused.text)
    assert field_value(refused.text, "subscribe-email") == "用户@例子.中国"
    full_width = site.post("/subscribe", {"email": "reader＠例子.中国"})
    assert full_width.status_code == 400 and "全角字符" in full_width.text
    assert store.stats(site.engine)["pending"] == 0

    accepted = site.post("/subscribe", {"email": "reader@例子.中国"})
    assert accepted.status_code == 303
    assert site.status("reader@例子.中国") == "pending"
    (mail,) = site.mails()
    assert mail["To"].addresses[0].addr_spec == "reader@xn--fsqu00a.xn--fiqs8s"


# (19) an old confirmation link after leaving

def test_a_confirmation_link_pressed_again_after_unsubscribing_brings_the_reader_back(
    site: Site,  # noqa: F811
) -> None:
    reader = subscribed_and_confirmed(site, "back@example.org").id
    link = f"{site.url}/confirm/{confirm_token(SIGNER, reader, 'back@example.org')}"
    leave = unsubscribe_token(SIGNER, reader, "back@example.org")
    left = web_client.post(f"{site.url}/unsubscribe/{leave}",
                           data={"List-Unsubscribe": "One-Click"})
    assert left.status_code == 200 and site.status("back@example.org") == "unsubscribed"

    page = web_client.get(link)  # days later, the confirmation mail is still in the inbox
    assert page.status_code == 200 and "现在没有订阅" in page.text and "重新订阅" in page.text
    again = web_client.post(link)
    assert again.status_code == 303 and again.headers["location"] == httpx.URL(link).path
    assert site.status("back@example.org") == "confirmed"
    assert history(site, reader)[-1] == ("resubscribed", "unsubscribed", "confirmed")
    shown = web_client.get(link)
    assert shown.status_code == 200 and "<h1>订阅成功</h1>" in shown.text


def test_an_expired_confirmation_link_after_unsubscribing_says_they_left_and_how_to_come_back(
    site: Site, monkeypatch: pytest.MonkeyPatch,  # noqa: F811
) -> None:
    added = subscribed_and_confirmed(site, "late@example.org")
    with site.engine.begin() as conn:
        store.unsubscribe(conn, added.id, NOW)
    eight_days_ago = int(time.time()) - 8 * 86400
    with monkeypatch.context() as patch:
        patch.setattr(itsdangerous.TimestampSigner, "get_timestamp", lambda _: eight_days_ago)
        token = confirm_token(SIGNER, added.id, "late@example.org")
    for method in ("GET", "POST"):
        page = web_client.request(method, f"{site.url}/confirm/{token}")
        assert page.status_code == 400, method
        assert "<h1>确认链接已过期</h1>" in page.text
        assert "late@example.org 现在没有订阅" in page.text and "已退订" in page.text
        assert '<a href="/subscribe">重新订阅</a>' in page.text
    assert site.status("late@example.org") == "unsubscribed"


def test_the_unsubscribed_page_leads_back_to_subscribing_again(site: Site) -> None:  # noqa: F811
    added = subscribed_and_confirmed(site, "undo@example.org")
    url = f"{site.url}/unsubscribe/{unsubscribe_token(SIGNER, added.id, added.email)}"
    done = web_client.post(url, data={"List-Unsubscribe": "One-Click"}, follow_redirects=False)
    assert done.status_code == 200 and site.status("undo@example.org") == "unsubscribed"
    back = re.search(r'<a href="(/preferences/[^"]+)">改变主意了？重新订阅</a>', done.text)
    assert back, done.text
    preferences = site.url + back.group(1)
    assert "重新订阅" in web_client.get(preferences).text
    saved = site.post(back.group(1), {"action": "subscribe"})
    assert saved.status_code == 303 and saved.headers["location"] == back.group(1) + "?saved=1"
    assert "更改已保存" in web_client.get(site.url + saved.headers["location"]).text
    assert site.status("undo@example.org") == "confirmed"
    assert "更改已保存" not in web_client.get(preferences).text


# (20) Back and Reload after each form repeat nothing

@pytest.mark.chromium
def test_back_and_reload_after_each_form_send_nothing_again(site: Site) -> None:  # noqa: F811
    with sync_playwright() as playwright:
        page = phone(playwright)
        posts: list[str] = []

        def record(request: Request) -> None:
            if request.method == "POST":
                posts.append(request.url)

        page.on("request", record)

        def back_and_reload() -> None:
            sent = len(posts)
            page.reload()
            page.go_back()
            page.go_forward()
            page.reload()
            assert len(posts) == sent, posts

        page.goto(site.url + "/subscribe")
        page.fill("#subscribe-email", "reader@example.org")
        with page.expect_navigation():
            page.click("button[type=submit]")
        assert page.url == site.url + "/subscribe/sent"
        assert page.text_content("h1") == "请查收邮件"
        back_and_reload()
        assert len(site.mails()) == 1

        link = confirm_link(site.mails()[0])
        page.goto(link)
        with page.expect_navigation():
            page.click("button[type=submit]")
        assert page.url == link and page.text_content("h1") == "订阅成功"
        back_and_reload()
        page.go_back()  # the confirmation page, fetched again: nothing left to press
        assert page.url == link and page.text_content("h1") == "订阅成功"

        reader = subscriber_id(site, "reader@example.org")
        token = preferences_token(SIGNER, reader, "reader@example.org")
        page.goto(f"{site.url}/preferences/{token}")
        with page.expect_navigation():
            page.click("button[value=unsubscribe]")
        assert page.url == f"{site.url}/preferences/{token}?saved=1"
        assert "更改已保存" in (page.text_content("main") or "")
        back_and_reload()
        assert len(posts) == 3
    assert site.status("reader@example.org") == "unsubscribed"
    kinds = [event for event, _, _ in history(site, reader)]
    assert kinds.count("confirmed") == 1 and kinds.count("unsubscribed") == 1
    assert len(site.mails()) == 1


# (21) a mistyped URL or a wrong method gets a page in the site's language

@pytest.mark.parametrize(("method", "path", "status", "heading"), [
    ("GET", "/no-such-page", 404, "找不到这个页面"),
    ("GET", "/issues/no-such-issue/", 404, "找不到这个页面"),
    ("GET", "/missing.css", 404, "找不到这个页面"),
    ("GET", "/confirm/", 404, "找不到这个页面"),
    ("POST", "/feed.atom", 405, "无法处理这个请求"),
    ("DELETE", "/subscribe", 405, "无法处理这个请求"),
])
def test_a_missing_page_or_wrong_method_is_a_chinese_page_with_a_way_home(
    site: Site, method: str, path: str, status: int, heading: str,  # noqa: F811
) -> None:
    response = web_client.request(method, site.url + path)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN">' in response.text
    assert f"<h1>{heading}</h1>" in response.text
    assert '<a href="/">返回首页</a>' in response.text
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "same-origin"
    if status == 405:
        assert "GET" in response.headers["allow"]
