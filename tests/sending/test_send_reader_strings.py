"""The email's own words in the reader's language, also when they get the original (issue
27, item 2): the seed issue (Chinese) with no translation, sent to readers in English,
British English, Chinese, German and none, through a real SMTP catcher, on SQLite and
PostgreSQL. The English and German readers get the Chinese original with their own header,
date and footer; the Chinese reader's mail is what it was before; a translation, where
there is one, is sent as it was."""

from __future__ import annotations

import shutil
from dataclasses import replace
from email.message import EmailMessage
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from publisher.config import Config
from publisher.db import deliveries, open_database
from publisher.dev.catcher import Catcher
from publisher.mail.checks import check_issues
from publisher.mail.render import Recipient, personalise, render_email
from publisher.sending import reports
from publisher.sending.drain import DrainOptions
from publisher.sending.send_issue import ready, run_send, start
from tests.conftest import SEED_ISSUE
from tests.sending.helpers import SECRETS, T0, smtp_site
from tests.sending.test_send_languages import (
    CHINESE_TITLE,
    LANGUAGES,
    READERS,
    TRANSLATION,
    add_readers,
    received,
    translated_site,
)

CHINESE_BODY = "WildBench"  # a line of the original's body (its papers' names stay English)
CHINESE_FOOTER = "你收到这封邮件"
GERMAN_FOOTER = "Sie erhalten diese E-Mail"


def untranslated_site(config: Config, root: Path, database_url: str, port: int) -> Config:
    """The seed site publishing in LANGUAGES, its issue with no translation beside it."""
    issues = root / "untranslated-issues"
    issues.mkdir()
    shutil.copy(SEED_ISSUE, issues)
    site = config.site.model_copy(update={"languages": LANGUAGES})
    paths = config.settings.paths.model_copy(update={"issues": str(issues)})
    config = replace(config, settings=config.settings.model_copy(
        update={"site": site, "paths": paths}))
    return smtp_site(config, port, database_url)


def parts(message: EmailMessage) -> tuple[str, str]:
    """The text and HTML parts as sent: the text's lines ending in LF, the HTML's long lines
    unfolded (the MIME stage folds them at a space)."""
    text, page = message.get_body(("plain",)), message.get_body(("html",))
    assert text is not None and page is not None
    return text.get_content().replace("\r\n", "\n"), page.get_content().replace("\r\n", " ")


def recorded(engine: Engine) -> dict[str, tuple[str | None, str | None]]:
    c = deliveries.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(c.email, c.language, c.strings_language)).all()
    return {str(email): (language, strings) for email, language, strings in rows}


def chinese_links(text: str) -> dict[str, str]:
    return dict(line.split("：", 1) for line in text.splitlines()
                if line.startswith(("退订：", "订阅设置：")))


def sent_untranslated(seed_config: Config, tmp_path: Path,
                      database_url: str) -> tuple[Config, Engine, dict[str, EmailMessage]]:
    with Catcher(tmp_path / "Maildir") as catcher:
        config = untranslated_site(seed_config, tmp_path, database_url, catcher.port)
        engine = open_database(database_url)
        add_readers(engine, READERS)
        item = ready(config, config.issues_dir / SEED_ISSUE.name)
        send_id = start(engine, config, item, T0)
        counts = run_send(engine, config, SECRETS, send_id, lambda: T0,
                          DrainOptions(sender_processes=1))
        mail = received(catcher)
    assert counts["sent"] == len(READERS)
    by_language = reports.send_summary(engine, send_id, T0).by_language
    assert {language: tally["sent"] for language, tally in by_language.items()} == {
        "zh-CN": 5}  # every reader got the original's content
    return config, engine, mail


def test_an_english_reader_of_an_untranslated_issue_gets_the_original_with_english_words(
    seed_config: Config, tmp_path: Path, database_url: str
) -> None:
    _config, engine, mail = sent_untranslated(seed_config, tmp_path, database_url)
    for address in ("en@example.net", "gb@example.net"):
        message = mail[address]
        assert message["Subject"] == CHINESE_TITLE and message["Content-Language"] == "zh-CN"
        text, page = parts(message)
        assert CHINESE_BODY in text and CHINESE_BODY in page
        for words in ("View in your browser: http", "Unsubscribe: http", "Preferences: http",
                      f"You are receiving this because {address}"):
            assert words in text, (address, words)
        assert CHINESE_FOOTER not in text and CHINESE_FOOTER not in page
        assert '<html lang="zh-CN"' in page  # the document is the content's language
        english = 'lang="en"' if address.startswith("en@") else 'lang="en-GB"'
        assert f'<p style="margin:0 0 8px;" {english}>You are receiving this' in page
        for words in ("View in your browser", "Unsubscribe", "Preferences", "Follow by feed"):
            assert f">{words}</a>" in page, (address, words)
    german_text, german_page = parts(mail["de@example.net"])
    assert GERMAN_FOOTER in german_text and GERMAN_FOOTER in german_page
    assert "Abbestellen" in german_text and 'lang="de"' in german_page
    assert recorded(engine) == {
        "en@example.net": ("zh-CN", "en"), "gb@example.net": ("zh-CN", "en-GB"),
        "de@example.net": ("zh-CN", "de"), "zh@example.net": ("zh-CN", None),
        "none@example.net": ("zh-CN", None)}


def test_a_chinese_readers_mail_of_the_same_send_is_the_original_as_it_always_was(
    seed_config: Config, tmp_path: Path, database_url: str
) -> None:
    config, _engine, mail = sent_untranslated(seed_config, tmp_path, database_url)
    (issue, _checked), = check_issues([config.issues_dir / SEED_ISSUE.name], config)
    original = render_email(issue, config)
    frozen = ready(config, config.issues_dir / SEED_ISSUE.name).rendered
    assert (frozen.html, frozen.text, frozen.language) == (
        original.html, original.text, original.language)  # the original's prepared message
    for address in ("zh@example.net", "none@example.net"):
        text, page = parts(mail[address])
        found = chinese_links(text)
        assert len(found) == 2, text
        unsubscribe, preferences = found.values()
        expected_html, expected_text = personalise(
            original, Recipient(address, "", unsubscribe, preferences))
        assert text == expected_text
        assert page.split() == expected_html.split()  # the same but for the MIME folding
        assert CHINESE_FOOTER in text and 'lang="en"' not in page


def test_with_the_translation_present_the_english_reader_gets_it_as_before(
    seed_config: Config, tmp_path: Path
) -> None:
    config = translated_site(seed_config, tmp_path, "sqlite:///" + str(tmp_path / "p.db"), 25)
    path = config.issues_dir / SEED_ISSUE.name
    (_issue, original), (translation, english) = check_issues(
        [path, config.issues_dir / TRANSLATION.name], config, translations=True)
    editions = ready(config, path).rendered
    assert editions.html == original.html and editions.text == original.text
    assert editions.translations["en"] == english == render_email(translation, config)
    assert set(editions.translations) == {"en", "de"}  # en-GB readers get `en`
    assert editions.translations["de"].language == "zh-CN"
