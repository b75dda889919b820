"""Every word the console and the reader's pages show is in the site's language: Chinese
strings use full-width punctuation, the console labels event kinds, statuses, detail keys
and totals instead of showing their keys, its times say their zone, and a damaged
unsubscribe link tells the reader how to leave rather than to subscribe again."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from publisher.config import Config
from publisher.subscribers import store
from publisher.web.admin.console import zoned
from tests import web_client
from tests.admin.helpers import console_served, log_in, with_language
from tests.catalogs import catalog, translations
from tests.sending.helpers import add_confirmed

ASCII_PUNCTUATION = re.compile(r"[,:;!?()]")
# What the store writes as event kinds, statuses and keys: none may reach a Chinese page.
KEYS = re.compile(r"\b(created|confirmation_sent|confirmed|unsubscribed|bounced|complained|"
                  r"resubscribed|topics_changed|timezone_changed|erased|pending|"
                  r"bounce_events|complaint_events|via|source)\b")


def visible_text(page: str) -> str:
    body = page.split("<body", 1)[1]
    return html.unescape(re.sub(r"<[^>]+>", " ", body))


def test_chinese_strings_use_full_width_punctuation() -> None:
    mixed = {message.id: text for message in catalog("zh_Hans") if message.id
             for text in translations(message)
             if ASCII_PUNCTUATION.search(re.sub(r"\{[a-z_]+(:[^}]*)?\}", "", text))}
    assert mixed == {}


def test_the_chinese_console_names_every_event_status_and_total(seed_config: Config) -> None:
    with console_served(seed_config) as site, site.client() as client:
        add_confirmed(site.engine, 3)
        with site.engine.begin() as conn:
            store.unsubscribe(conn, 1, site.clock(), how="operator")
            store.set_timezone(conn, 2, "Europe/Berlin", site.clock())
        log_in(client)
        listing = visible_text(client.get("/admin/subscribers").text)
        person = visible_text(client.get("/admin/subscribers/1").text)
        other = visible_text(client.get("/admin/subscribers/2").text)
    for text in (listing, person, other):
        assert not KEYS.search(text), KEYS.search(text)
    assert "累计退信 0" in " ".join(listing.split())
    assert "累计垃圾邮件举报 0" in " ".join(listing.split())
    assert "已加入" in person and "已退订" in person and "方式：operator" in person
    assert "已订阅 → 已退订" in person
    assert "时区已更改" in other
    assert "2024-06-16 09:00:00 UTC+08:00" in person  # the site's zone, said


def test_console_times_carry_their_zone() -> None:
    moment = datetime(2024, 6, 16, 1, 0, 5, tzinfo=UTC)
    assert zoned(moment, ZoneInfo("Asia/Shanghai")) == "2024-06-16 09:00:05 UTC+08:00"
    assert zoned(moment, ZoneInfo("America/St_Johns")) == "2024-06-15 22:30:05 UTC-02:30"
    assert zoned(moment, UTC) == "2024-06-16 01:00:05 UTC"
    assert zoned(None, UTC) == "—"


@pytest.mark.parametrize(("language", "says", "never"), [
    ("zh-CN", "请点击任意一期邮件底部的“退订”链接", "重新订阅"),
    ("en", "use the Unsubscribe link at the bottom of any issue", "Subscribe again"),
])
def test_a_damaged_unsubscribe_link_says_how_to_leave(seed_config: Config, language: str,
                                                       says: str, never: str) -> None:
    with console_served(with_language(seed_config, language)) as site:
        for answer in (web_client.get(site.url + "/unsubscribe/cut-short"),
                       web_client.post(site.url + "/unsubscribe/cut-short",
                                       data={"List-Unsubscribe": "One-Click"})):
            assert answer.status_code == 400
            assert says in answer.text and never not in answer.text
        preferences = web_client.get(site.url + "/preferences/cut-short")
        assert preferences.status_code == 400 and never not in preferences.text
