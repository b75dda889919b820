"""Topics and time zones, as a reader picks them: on the subscribe form, the archive's form
and the preferences page, over real HTTP; each change is one event row in the store."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from lxml import html as lxml_html
from sqlalchemy.engine import Engine

from publisher.db import subscriber_events
from publisher.errors import StoreError
from publisher.subscribers import store
from publisher.subscribers.addresses import normalise_address
from publisher.subscribers.store import Consent
from publisher.tokens import TokenSigner, preferences_token
from tests import web_client
from tests.sending.helpers import SECRETS
from tests.subscribers.test_web_flows import Site, confirm_link, site  # noqa: F401 - the fixture

NOW = datetime(2026, 1, 1, tzinfo=UTC)
TOPICS = frozenset({"llm", "papers"})


def submit(running: Site, path: str, data: dict[str, Any]) -> httpx.Response:
    """A form post from our own pages (Origin is the site), topics as repeated fields."""
    return web_client.post(running.url + path, data=data, headers={"Origin": running.url},
                           follow_redirects=False)


def reader(running: Site, email: str) -> store.Subscriber:
    with running.engine.connect() as conn:
        found = store.find(conn, normalise_address(email))
    assert found is not None
    return found


def choice_events(engine: Engine, subscriber_id: int) -> list[tuple[str, dict[str, Any]]]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(subscriber_events.c.event, subscriber_events.c.detail)
                            .where(subscriber_events.c.subscriber_id == subscriber_id,
                                   subscriber_events.c.event.in_(["topics_changed",
                                                                  "timezone_changed"]))
                            .order_by(subscriber_events.c.id)).all()
    return [(str(event), dict(detail)) for event, detail in rows]


def test_the_form_offers_labelled_topics_and_every_zone_with_none_chosen_and_no_script(
    site: Site,  # noqa: F811
) -> None:
    page = web_client.get(site.url + "/subscribe").text
    doc = lxml_html.fromstring(page)
    boxes = {box.get("value"): box.getparent().text_content().strip()
             for box in doc.iterfind(".//input[@type='checkbox']")}
    assert boxes == {"llm": "大语言模型", "papers": "论文"}
    zone = doc.find(".//select[@name='timezone']")
    assert zone is not None
    options = [option.text for option in zone.iter("option")]
    assert options[0] == "（未设置）" and zone.value == ""
    assert {"Asia/Shanghai", "Europe/Berlin", "America/New_York", "UTC"} <= set(options)
    assert [group.get("label") for group in zone.iter("optgroup")][:2] == ["Africa", "America"]
    assert "<script" not in page


def test_a_reader_subscribes_with_topics_and_a_zone_then_changes_them_each_with_an_event(
    site: Site,  # noqa: F811
) -> None:
    asked = submit(site, "/subscribe", {"email": "reader@example.org", "topic": ["llm"],
                                        "timezone": "Europe/Berlin"})
    assert asked.status_code == 303
    pending = reader(site, "reader@example.org")
    assert (pending.status, pending.tags, pending.timezone) == ("pending", ["llm"],
                                                                 "Europe/Berlin")
    (mail,) = site.mails()
    assert submit(site, confirm_link(mail).removeprefix(site.url), {}).status_code == 303
    with site.engine.begin() as conn:  # an operator's import tag, which no form may touch
        store.add(conn, "reader@example.org", None, store.CONFIRMED, Consent("import", NOW),
                  NOW, tags=["vip"])
    link = "/preferences/" + preferences_token(TokenSigner(SECRETS.secret_keys), pending.id,
                                           pending.email)
    page = lxml_html.fromstring(web_client.get(site.url + link).text)
    assert [box.get("value") for box in page.iterfind(".//input[@checked]")] == ["llm"]
    assert page.find(".//select[@name='timezone']").value == "Europe/Berlin"

    saved = submit(site, link, {"action": "save", "topic": ["papers", "llm"],
                                "timezone": "America/New_York"})
    assert (saved.status_code, saved.headers["location"]) == (303, link + "?saved=1")
    again = submit(site, link, {"action": "save", "topic": ["llm", "papers"],
                                "timezone": "America/New_York"})
    assert again.status_code == 303  # the same choice again: nothing changes, no event
    cleared = submit(site, link, {"action": "save", "timezone": ""})
    assert cleared.status_code == 303
    after = reader(site, "reader@example.org")
    assert (after.status, after.tags, after.timezone) == ("confirmed", ["vip"], None)
    assert choice_events(site.engine, after.id) == [
        ("topics_changed", {"from": [], "to": ["llm"]}),
        ("timezone_changed", {"from": None, "to": "Europe/Berlin"}),
        ("topics_changed", {"from": ["llm"], "to": ["llm", "papers"]}),
        ("timezone_changed", {"from": "Europe/Berlin", "to": "America/New_York"}),
        ("topics_changed", {"from": ["llm", "papers"], "to": []}),
        ("timezone_changed", {"from": "America/New_York", "to": None}),
    ]
    shown = web_client.get(site.url + link + "?saved=1").text
    assert "更改已保存。" in shown and "主题：无。时区：（未设置）。" in shown


def test_an_undeclared_topic_or_an_unknown_zone_is_refused_with_the_field_named(
    site: Site,  # noqa: F811
) -> None:
    topic = submit(site, "/subscribe", {"email": "a@example.org", "topic": ["llm", "crypto"]})
    assert topic.status_code == 400
    doc = lxml_html.fromstring(topic.text)
    assert doc.find(".//h1").text == "请检查主题"
    assert doc.find(".//*[@role='alert']").text == "主题：请只在列出的主题中选择。"
    assert doc.find(".//fieldset[@id='topics']").get("aria-invalid") == "true"
    assert doc.find(".//input[@name='email']").get("value") == "a@example.org"  # kept
    assert [box.get("value") for box in doc.iterfind(".//input[@checked]")] == ["llm"]
    zone = submit(site, "/subscribe", {"email": "a@example.org", "timezone": "Mars/Olympus"})
    assert zone.status_code == 400
    doc = lxml_html.fromstring(zone.text)
    assert doc.find(".//*[@role='alert']").text.startswith("时区：无法识别这个时区")
    assert doc.find(".//select[@name='timezone']").get("aria-invalid") == "true"
    assert site.status("a@example.org") is None and site.mails() == []

    with site.engine.begin() as conn:
        known, _ = store.add(conn, "b@example.org", "", store.CONFIRMED,
                             Consent("import", NOW), NOW, timezone="Asia/Shanghai")
    link = "/preferences/" + preferences_token(TokenSigner(SECRETS.secret_keys), known.id,
                                           known.email)
    refused = submit(site, link, {"action": "save", "timezone": "Asia/Beijing"})
    assert refused.status_code == 400 and "时区：无法识别这个时区" in refused.text
    assert reader(site, "b@example.org").timezone == "Asia/Shanghai"


def test_the_archive_form_takes_topics_and_a_typed_zone(
    site: Site,  # noqa: F811
) -> None:
    page = lxml_html.fromstring(web_client.get(site.url + "/").text)
    form = page.find(".//footer//form")
    assert form is not None
    assert {box.get("value") for box in form.iterfind(".//input[@type='checkbox']")} == TOPICS
    assert form.find(".//input[@name='timezone']") is not None
    answer = submit(site, "/subscribe", {"email": "c@example.org", "topic": "papers",
                                         "timezone": " Asia/Tokyo ", "name": ""})
    assert answer.status_code == 303
    found = reader(site, "c@example.org")
    assert (found.tags, found.timezone) == (["papers"], "Asia/Tokyo")


def test_a_form_request_never_changes_a_confirmed_readers_topics_or_zone(
    site: Site,  # noqa: F811
) -> None:
    with site.engine.begin() as conn:
        store.add(conn, "d@example.org", "", store.CONFIRMED, Consent("import", NOW), NOW,
                  tags=["llm"], timezone="Europe/Paris")
    submit(site, "/subscribe", {"email": "d@example.org", "topic": "papers",
                                "timezone": "Asia/Tokyo"})
    found = reader(site, "d@example.org")
    assert (found.tags, found.timezone) == (["llm"], "Europe/Paris")


def test_setting_topics_replaces_only_declared_tags_and_a_zone_must_be_known(
    engine: Engine,
) -> None:
    with engine.begin() as conn:
        person, _ = store.add(conn, "e@example.org", "", store.CONFIRMED,
                              Consent("import", NOW), NOW, tags=["imported-2023", "llm"])
        changed = store.set_topics(conn, person.id, ["papers", "crypto"], TOPICS, NOW)
        assert changed is not None and changed.tags == ["imported-2023", "papers"]
        with pytest.raises(StoreError, match="timezone: 'Asia/Beijing' is not a known"):
            store.set_timezone(conn, person.id, "Asia/Beijing", NOW)
        assert store.set_topics(conn, 10_000, ["llm"], TOPICS, NOW) is None
    assert choice_events(engine, person.id) == [
        ("topics_changed", {"from": ["llm"], "to": ["papers"]})]
