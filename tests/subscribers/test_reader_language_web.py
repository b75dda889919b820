"""A reader's language over real HTTP (issue 27): on a site of `languages = ["zh-CN", "en"]`
the subscribe form offers both, each named in itself, the browser's Accept-Language
preselecting one (stored only when the form is sent); a reader who chooses English gets the
English confirmation mail (through the outbox, into a real SMTP catcher) and English
confirm, preferences and unsubscribe pages, and an issue sent later comes in English (its
translation), its links opening English pages, as they do from the Chinese original
with its English footer when there is no translation; a language the site lacks is
refused."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import pytest
from lxml import html as lxml_html

from publisher.config import Config
from publisher.sending.drain import DrainOptions
from publisher.sending.send_issue import ready, run_send, start
from publisher.subscribers import store
from publisher.subscribers.addresses import normalise_address
from publisher.subscribers.store import Consent
from publisher.tokens import TokenSigner, preferences_token, unsubscribe_token
from tests import web_client
from tests.conftest import DATA, SEED_ISSUE
from tests.sending.helpers import SECRETS, T0
from tests.subscribers.test_web_flows import Site, confirm_link, served

TWO_LANGUAGES = ["zh-CN", "en"]


@pytest.fixture
def bilingual(seed_config: Config, tmp_path: Path) -> Iterator[Site]:
    """The seed site (zh-CN) publishing in English too, served with a mail catcher."""
    settings = seed_config.settings
    site = settings.site.model_copy(update={"languages": TWO_LANGUAGES})
    config = replace(seed_config, settings=settings.model_copy(update={"site": site}))
    with served(config, tmp_path) as running:
        yield running


def language_select(page: str) -> tuple[list[tuple[str, str]], str]:
    """The form's language options (value, text) and the one selected."""
    select = lxml_html.fromstring(page).find(".//select[@name='language']")
    assert select is not None, page[:2000]
    options = [(str(o.get("value")), o.text_content()) for o in select.iter("option")]
    return options, str(select.value)


def stored(running: Site, email: str) -> store.Subscriber:
    with running.engine.connect() as conn:
        found = store.find(conn, normalise_address(email))
    assert found is not None
    return found


def heading(page: str) -> str:
    return str(lxml_html.fromstring(page).findtext(".//h1"))


def test_the_form_names_each_language_in_itself_and_accept_language_preselects(
        bilingual: Site) -> None:
    english = web_client.get(bilingual.url + "/subscribe",
                             headers={"Accept-Language": "en-GB,en;q=0.9,de;q=0.5"}).text
    options, selected = language_select(english)
    assert [value for value, _ in options] == TWO_LANGUAGES
    assert dict(options)["en"] == "English" and dict(options)["zh-CN"].startswith("中文")
    assert selected == "en"
    assert heading(english) == "Get it by email"
    assert 'lang="en"' in english.split(">", 2)[1]
    chinese = web_client.get(bilingual.url + "/subscribe",
                             headers={"Accept-Language": "zh-TW,zh;q=0.9"}).text
    assert language_select(chinese)[1] == "zh-CN" and heading(chinese) == "通过邮件订阅"
    unknown = web_client.get(bilingual.url + "/subscribe", headers={"Accept-Language": "fr"}).text
    assert language_select(unknown)[1] == "zh-CN"  # the site's language
    assert web_client.get(bilingual.url + "/subscribe").text.count("<select") == 2
    assert bilingual.status("nobody@example.org") is None  # showing stores nothing


def test_a_reader_who_chooses_english_gets_the_english_mail_and_pages(bilingual: Site) -> None:
    asked = bilingual.post("/subscribe", {"email": "reader@example.org", "language": "en"},
                           **{"Accept-Language": "zh-CN"})
    assert asked.status_code == 303
    assert asked.headers["location"] == "/subscribe/sent?language=en"
    sent = web_client.get(bilingual.url + asked.headers["location"],
                          headers={"Accept-Language": "zh-CN"}).text
    assert heading(sent) == "Check your inbox"
    (mail,) = bilingual.mails()
    assert mail["Subject"] == f"Confirm your subscription to {bilingual.config.site.title}"
    assert mail["Content-Language"] == "en"
    body = mail.get_body(("plain",))
    assert body is not None and "请" not in body.get_content()
    link = confirm_link(mail).removeprefix(bilingual.url)
    confirm_page = web_client.get(bilingual.url + link).text
    assert heading(confirm_page) == "Confirm your subscription"
    assert bilingual.post(link, {}).status_code == 303
    assert heading(web_client.get(bilingual.url + link).text) == "Subscription confirmed"
    reader = stored(bilingual, "reader@example.org")
    assert reader.language == "en"
    signer = TokenSigner(SECRETS.secret_keys)
    preferences = f"/preferences/{preferences_token(signer, reader.id, reader.email)}"
    page = web_client.get(bilingual.url + preferences).text
    assert heading(page) == "Subscription preferences"
    assert language_select(page)[1] == "en"
    leave = f"/unsubscribe/{unsubscribe_token(signer, reader.id, reader.email)}"
    assert heading(web_client.get(bilingual.url + leave).text) == "Unsubscribe"


def test_the_preferences_page_changes_the_language_and_then_speaks_it(bilingual: Site) -> None:
    bilingual.post("/subscribe", {"email": "reader@example.org", "language": "en"})
    (mail,) = bilingual.mails()
    link = confirm_link(mail).removeprefix(bilingual.url)
    bilingual.post(link, {})
    reader = stored(bilingual, "reader@example.org")
    signer = TokenSigner(SECRETS.secret_keys)
    preferences = f"/preferences/{preferences_token(signer, reader.id, reader.email)}"
    saved = bilingual.post(preferences, {"action": "save", "language": "zh-CN"})
    assert saved.status_code == 303
    page = web_client.get(bilingual.url + saved.headers["location"]).text
    assert heading(page) == "订阅设置" and language_select(page)[1] == "zh-CN"
    refused = bilingual.post(preferences, {"action": "save", "language": "fr"})
    assert refused.status_code == 400
    assert heading(refused.text) == "请检查语言"


def test_a_language_the_site_lacks_is_refused_naming_the_field(bilingual: Site) -> None:
    refused = bilingual.post("/subscribe", {"email": "reader@example.org", "language": "fr"},
                             **{"Accept-Language": "en"})
    assert refused.status_code == 400
    assert heading(refused.text) == "Please check the language"
    doc = lxml_html.fromstring(refused.text)
    assert doc.find(".//select[@name='language']").get("aria-invalid") == "true"
    assert doc.find(".//input[@name='email']").get("value") == "reader@example.org"
    assert bilingual.status("reader@example.org") is None
    assert bilingual.mails() == []


def test_a_site_of_one_language_offers_no_language_select(seed_config: Config,
                                                          tmp_path: Path) -> None:
    with served(seed_config, tmp_path) as running:
        page = web_client.get(running.url + "/subscribe", headers={"Accept-Language": "en"}).text
        assert "name=\"language\"" not in page
        assert heading(page) == "通过邮件订阅"  # the site's one language, whatever the browser
        assert running.post("/subscribe", {"email": "a@example.org"}).headers[
            "location"] == "/subscribe/sent"


@pytest.fixture
def translated(seed_config: Config, tmp_path: Path) -> Iterator[Site]:
    """`bilingual`, its issue beside the English translation (tests/data/translations)."""
    issues = tmp_path / "translated-issues"
    issues.mkdir()
    shutil.copy(SEED_ISSUE, issues)
    shutil.copy(DATA / "translations" / f"{SEED_ISSUE.stem}.en.md", issues)
    settings = seed_config.settings
    site = settings.site.model_copy(update={"languages": TWO_LANGUAGES})
    paths = settings.paths.model_copy(update={"issues": str(issues)})
    config = replace(seed_config, settings=settings.model_copy(
        update={"site": site, "paths": paths}))
    with served(config, tmp_path) as running:
        yield running


def test_an_english_reader_gets_the_english_issue_whose_links_open_english_pages(
        translated: Site) -> None:
    with translated.engine.begin() as conn:
        store.add(conn, "reader@example.org", "", store.CONFIRMED, Consent("import", T0), T0,
                  language="en")
    item = ready(translated.config, translated.config.issues_dir / SEED_ISSUE.name)
    send_id = start(translated.engine, translated.config, item, T0)
    run_send(translated.engine, translated.config, SECRETS, send_id, lambda: T0,
             DrainOptions())
    (mail,) = [m for m in translated.mails() if m["Content-Language"] == "en"]
    assert mail["Subject"] == "Important LLM Papers of the First Half of June 2024"
    assert_links_open_english_pages(mail)


def assert_links_open_english_pages(mail: EmailMessage) -> None:
    """The mail's text part has English Unsubscribe and Preferences links, which open
    English pages."""
    body = mail.get_body(("plain",))
    assert body is not None
    links = dict(line.split(": ", 1) for line in body.get_content().splitlines()
                 if line.startswith(("Unsubscribe: ", "Preferences: ")))
    preferences = web_client.get(links["Preferences"]).text
    assert heading(preferences) == "Subscription preferences"
    assert 'lang="en"' in preferences.split(">", 2)[1]
    assert heading(web_client.get(links["Unsubscribe"]).text) == "Unsubscribe"


def test_an_english_reader_of_an_untranslated_issue_gets_english_links_to_english_pages(
        bilingual: Site) -> None:
    """No English translation: the Chinese original, its footer English (issue 27)."""
    with bilingual.engine.begin() as conn:
        store.add(conn, "reader@example.org", "", store.CONFIRMED, Consent("import", T0), T0,
                  language="en")
    item = ready(bilingual.config, bilingual.config.issues_dir / SEED_ISSUE.name)
    send_id = start(bilingual.engine, bilingual.config, item, T0)
    run_send(bilingual.engine, bilingual.config, SECRETS, send_id, lambda: T0,
             DrainOptions())
    (mail,) = [m for m in bilingual.mails() if m["Subject"] == "2024年6月上半月重要LLM论文"]
    assert mail["Content-Language"] == "zh-CN"
    assert_links_open_english_pages(mail)
