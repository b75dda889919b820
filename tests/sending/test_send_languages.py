"""One send, each reader in their language: the seed issue (Chinese) with its English
translation, to readers in English, British English, Chinese, German (no translation) and
none, through a real SMTP catcher, on SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
from dataclasses import replace
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import pytest
import sqlalchemy as sa
from lxml import html as lxml_html
from rich.console import Console
from sqlalchemy.engine import Engine

from publisher.commands.status import report_lines, status_table
from publisher.config import Config
from publisher.content.audience_expressions import matches, parse
from publisher.db import deliveries, open_database, sends
from publisher.dev.catcher import Catcher
from publisher.errors import SendError
from publisher.mail.rendered import RenderedEmail
from publisher.sending import reports
from publisher.sending.drain import DrainOptions
from publisher.sending.frozen import stored_form, thawed
from publisher.sending.send_issue import ready, run_send, start
from publisher.subscribers import audience_sql, store
from publisher.subscribers.store import Consent
from tests.admin.helpers import console_served, log_in
from tests.conftest import DATA, SEED_ISSUE
from tests.sending.helpers import SECRETS, T0, smtp_site

TRANSLATION = DATA / "translations" / "2024-06-first-half.en.md"
LANGUAGES = ["zh-CN", "en", "en-GB", "de"]
BASE = "http://127.0.0.1:8000"  # the seed site's base_url
ENGLISH_TITLE = "Important LLM Papers of the First Half of June 2024"
CHINESE_TITLE = "2024年6月上半月重要LLM论文"
# reader -> their language (None: never chose one) and the edition they must get
READERS: dict[str, tuple[str | None, str]] = {
    "en@example.net": ("en", "en"),
    "gb@example.net": ("en-GB", "en"),
    "zh@example.net": ("zh-CN", "zh-CN"),
    "de@example.net": ("de", "zh-CN"),
    "none@example.net": (None, "zh-CN"),
}


def translated_site(config: Config, root: Path, database_url: str, port: int) -> Config:
    """The seed site publishing in LANGUAGES, its issue beside the English translation."""
    issues = root / "translated-issues"
    issues.mkdir()
    shutil.copy(SEED_ISSUE, issues)
    shutil.copy(TRANSLATION, issues)
    site = config.site.model_copy(update={"languages": LANGUAGES})
    paths = config.settings.paths.model_copy(update={"issues": str(issues)})
    config = replace(config, settings=config.settings.model_copy(
        update={"site": site, "paths": paths}))
    return smtp_site(config, port, database_url)


def add_readers(engine: Engine, readers: dict[str, tuple[str | None, str]]) -> None:
    with engine.begin() as conn:
        for address, (language, _edition) in readers.items():
            store.add(conn, address, "", store.CONFIRMED, Consent("import", T0), T0,
                      language=language)


def parsed_mail(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def received(catcher: Catcher) -> dict[str, EmailMessage]:
    messages = [parsed_mail(raw) for raw in catcher.messages()]
    by_reader = {str(m["X-Envelope-To"]): m for m in messages}
    assert len(by_reader) == len(messages), "someone got two copies"
    return by_reader


def recorded_languages(engine: Engine) -> dict[str, str | None]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(deliveries.c.email, deliveries.c.language)).all())


def test_each_reader_gets_the_translation_in_their_language_else_the_original(
    seed_config: Config, tmp_path: Path, database_url: str
) -> None:
    with Catcher(tmp_path / "Maildir") as catcher:
        config = translated_site(seed_config, tmp_path, database_url, catcher.port)
        engine = open_database(database_url)
        add_readers(engine, READERS)
        item = ready(config, config.issues_dir / SEED_ISSUE.name)
        send_id = start(engine, config, item, T0)
        counts = run_send(engine, config, SECRETS, send_id, lambda: T0,
                          DrainOptions(sender_processes=1))
        mail = received(catcher)
    assert counts["sent"] == len(READERS)
    for address, (_language, edition) in READERS.items():
        message = mail[address]
        assert message["Content-Language"] == edition, address
        text = message.get_body(("plain",))
        html = message.get_body(("html",))
        assert text is not None and html is not None
        body, page = text.get_content(), html.get_content()
        if edition == "en":
            assert message["Subject"] == ENGLISH_TITLE
            assert ENGLISH_TITLE in body and "WildBench is an automated evaluation" in body
            assert "Unsubscribe: http://" in body and "Preferences: http://" in body
            assert 'lang="en"' in page and "Unsubscribe" in page
            assert f"{BASE}/en/issues/{item.issue.slug}/" in body  # its English page
        else:
            assert message["Subject"] == CHINESE_TITLE
            assert f"{BASE}/issues/{item.issue.slug}/" in body
            assert ENGLISH_TITLE not in body and "WildBench is an automated" not in body
    assert recorded_languages(engine) == {a: edition for a, (_, edition) in READERS.items()}
    by_language = reports.send_summary(engine, send_id, T0).by_language
    assert {language: tally["sent"] for language, tally in by_language.items()} == {
        "en": 2, "zh-CN": 3}


def test_a_send_begun_before_translations_resumes_with_its_one_email(
    seed_config: Config, tmp_path: Path, database_url: str
) -> None:
    """The upgrade path: content stored in the form of old (no `translations`) and rows
    without a language (written before migration 13) send the original to everyone."""
    with Catcher(tmp_path / "Maildir") as catcher:
        config = translated_site(seed_config, tmp_path, database_url, catcher.port)
        engine = open_database(database_url)
        add_readers(engine, READERS)
        original = ready(config, config.issues_dir / SEED_ISSUE.name)
        alone = replace(original, rendered=replace(original.rendered, translations={}))
        send_id = start(engine, config, alone, T0)
        with engine.begin() as conn:
            content = conn.execute(sa.select(sends.c.content)).scalar_one()
            conn.execute(deliveries.update().values(language=None))
        assert set(content) == {"slug", "subject", "language", "html", "text"}
        run_send(engine, config, SECRETS, send_id, lambda: T0, DrainOptions())
        mail = received(catcher)
    assert sorted(mail) == sorted(READERS)
    assert {m["Content-Language"] for m in mail.values()} == {"zh-CN"}
    assert {m["Subject"] for m in mail.values()} == {CHINESE_TITLE}


def test_the_stored_form_keeps_each_translation_and_reads_back_the_same() -> None:
    english = RenderedEmail("s", "Hello", "en", "<p>Hello</p>", "Hello")
    original = RenderedEmail("s", "你好", "zh-CN", "<p>你好</p>", "你好", {"en": english})
    stored = stored_form(original)
    assert stored["translations"]["en"]["subject"] == "Hello"
    assert thawed(stored) == original


def test_an_audience_of_lang_en_reaches_the_readers_of_english_and_its_variants(
    seed_config: Config, tmp_path: Path, database_url: str
) -> None:
    config = translated_site(seed_config, tmp_path, database_url, 25)
    engine = open_database(database_url)
    add_readers(engine, READERS)
    item = ready(config, config.issues_dir / SEED_ISSUE.name)
    send_id = start(engine, config, item, T0, audience="lang:en")
    assert recorded_languages(engine) == {"en@example.net": "en", "gb@example.net": "en"}
    assert reports.send_summary(engine, send_id, T0).audience == "lang:en"
    site_language = config.site.language  # a reader who chose none reads in zh-CN
    for text, expected in (("lang:zh", {"zh", "none"}), ("not lang:zh-CN", {"en", "gb", "de"}),
                           ("lang:en-GB or lang:de", {"gb", "de"})):
        reached = {address.split("@")[0] for address, (language, _) in READERS.items()
                   if matches(parse(text), set(), language or site_language)}
        assert reached == expected, text
        assert audience_sql.count(engine, parse(text), site_language) == len(expected), text


def test_a_lang_term_for_a_language_the_site_does_not_publish_is_refused(
    seed_config: Config, tmp_path: Path
) -> None:
    config = translated_site(seed_config, tmp_path, "sqlite:///" + str(tmp_path / "p.db"), 25)
    item = ready(config, config.issues_dir / SEED_ISSUE.name)
    engine = open_database(config.database_url)
    with pytest.raises(SendError) as refused:
        start(engine, config, item, T0, audience="lang:fr or lang:en")
    assert str(refused.value) == (
        "audience 'lang:fr or lang:en': `lang:fr` names no language the site publishes in; "
        "its languages: zh-CN, en, en-GB, de ([site] languages)")


def test_the_report_status_and_console_count_a_send_by_language(
    seed_config: Config, tmp_path: Path
) -> None:
    with Catcher(tmp_path / "Maildir") as catcher:
        config = translated_site(seed_config, tmp_path, seed_config.database_url, catcher.port)
        engine = open_database(config.database_url)
        add_readers(engine, READERS)
        item = ready(config, config.issues_dir / SEED_ISSUE.name)
        send_id = start(engine, config, item, T0)
        run_send(engine, config, SECRETS, send_id, lambda: T0, DrainOptions())
    summary = reports.send_summary(engine, send_id, T0)
    lines = [str(line) for line in report_lines(summary, reports.report_data(summary, []), [])]
    at = lines.index("by language:")
    assert lines[at + 1:at + 3] == [
        "  en       0 queued, 0 sending, 2 sent, 0 deferred, 0 failed, 0 cancelled",
        "  zh-CN    0 queued, 0 sending, 3 sent, 0 deferred, 0 failed, 0 cancelled"]
    out = Console(record=True, width=200)
    out.print(status_table(engine, item.issue.slug, T0))
    rows = [line.split() for line in out.export_text().splitlines()]
    assert ["│", "en", "│", "│", "0", "│", "0", "│", "2"] == rows[-3][:9]
    assert ["│", "zh-CN", "│", "│", "0", "│", "0", "│", "3"] == rows[-2][:9]
    with console_served(config) as site, site.client() as client:
        log_in(client)
        page = lxml_html.fromstring(client.get(f"/admin/sends/{send_id}").text)
    table = page.find(".//table[@class='by-language']")
    assert table is not None
    cells = {row.get("data-language"): [td.text_content() for td in row.iter("td")]
             for row in table.iter("tr") if row.get("data-language")}
    assert cells == {"en": ["en", "0", "0", "2", "0", "0", "0"],
                     "zh-CN": ["zh-CN", "0", "0", "3", "0", "0", "0"]}
