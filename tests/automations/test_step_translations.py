"""Automation steps with translations as sibling files (issue 27 item 6): `welcome.en.md`
beside `welcome.md` is read with its original, never as a step of its own, and `publisher
check` gives it the diagnostics of an issue's translation (a missing original, a language
the site does not list, a key that comes from the original, links that diverge, and a
warning when it is older than its original); each reader gets the step in their language,
else the original with its fixed strings (footer) in theirs."""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from publisher.config import Config
from publisher.content.automations import read_steps, step_variants
from publisher.db import deliveries, sends
from publisher.sending.daemon import Daemon
from publisher.sending.frozen import thawed
from publisher.subscribers import store
from tests.automations.helpers import BASE, confirm_at, with_steps
from tests.automations.test_step_files import config_with_steps, run
from tests.conftest import DATA, SITE
from tests.sending.faulty_smtp import FaultySMTP
from tests.sending.helpers import SECRETS, database, smtp_site

TRANSLATION = DATA / "step_translations" / "welcome.en.md"


@pytest.fixture
def steps(tmp_path: Path) -> Path:
    """The seed site's steps and the welcome's English translation."""
    folder = tmp_path / "automations"
    shutil.copytree(SITE / "automations", folder)
    shutil.copy(TRANSLATION, folder)
    return folder


def bilingual_config(tmp_path: Path, folder: Path) -> Path:
    config = config_with_steps(tmp_path, folder)
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace('language = "zh-CN"\n',
                                   'language = "zh-CN"\nlanguages = ["zh-CN", "en"]\n', 1),
                      encoding="utf-8")
    return config


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_a_step_translation_is_read_with_its_original_never_as_a_step(steps: Path) -> None:
    found, problems, failed = read_steps([steps])
    assert not problems and not failed
    assert [step.name for step in found] == ["welcome", "day-3"]
    welcome = found[0]
    english = welcome.translations["en"]
    assert (english.name, english.send_slug, english.delay, english.translation_of) == (
        "welcome", "automation:welcome", welcome.delay, welcome.path)
    assert english.meta.title == "Welcome to the LLM Papers Fortnightly Digest"
    assert english.meta.send_latest_issue and english.meta.language == "en"
    assert step_variants(welcome) == [welcome, english]
    drawn = welcome.as_issue(datetime(2026, 1, 1, tzinfo=UTC), "zh-CN")
    assert drawn.translations["en"].language == "en"
    assert drawn.translations["en"].slug == "welcome"


def test_check_passes_a_faithful_step_translation_and_lists_two_steps(
        steps: Path, tmp_path: Path) -> None:
    config = bilingual_config(tmp_path, steps)
    code, output = run(config, "check", str(steps))
    assert code == 0, output
    assert f"ok {steps / 'welcome.en.md'}" in output and "warning" not in output
    code, listed = run(config, "automations", "list")
    assert code == 0, listed
    assert [line.split()[0] for line in listed.splitlines()[1:]] == ["welcome", "day-3"]
    assert "welcome.en" not in listed


def test_a_step_translation_whose_original_is_missing_is_an_error(steps: Path,
                                                                   tmp_path: Path) -> None:
    (steps / "welcome.md").unlink()
    code, output = run(bilingual_config(tmp_path, steps), "check", str(steps))
    assert code != 0
    assert "welcome.en.md:1: a translation of welcome.md, which does not exist" in output


def test_a_step_translation_that_lost_a_link_is_an_error(steps: Path, tmp_path: Path) -> None:
    edit(steps / "welcome.en.md", " through the [Atom feed](/feed.atom)", " through its feed")
    code, output = run(bilingual_config(tmp_path, steps), "check", str(steps))
    assert code != 0
    assert "welcome.en.md:" in output and "1 links here, 2 in the original" in output, output


def test_a_step_translation_into_a_language_the_site_does_not_list_is_an_error(
        steps: Path, tmp_path: Path) -> None:
    code, output = run(config_with_steps(tmp_path, steps), "check", str(steps))
    assert code != 0
    assert "welcome.en.md:1: 'en' (from the file name) is not in [site] languages" in output


def test_a_step_translation_may_not_restate_its_delay(steps: Path, tmp_path: Path) -> None:
    edit(steps / "welcome.en.md", "---\ntitle:", "---\nafter: 1d\ntitle:")
    code, output = run(bilingual_config(tmp_path, steps), "check", str(steps))
    assert code != 0
    assert "welcome.en.md:2: after: comes from the original (welcome.md)" in output


def test_a_step_translation_older_than_its_original_is_a_warning(steps: Path,
                                                                 tmp_path: Path) -> None:
    day = datetime(2026, 1, 5, tzinfo=UTC).timestamp()
    os.utime(steps / "welcome.en.md", (day, day))
    os.utime(steps / "welcome.md", (day + 3600, day + 3600))
    code, output = run(bilingual_config(tmp_path, steps), "check", str(steps))
    assert code == 0, output
    assert "warning:" in output and "older than its original" in output
    assert str(steps / "welcome.md") in output


def test_each_reader_gets_the_welcome_in_their_language_else_the_original(
    seed_config: Config, steps: Path, database_url: str
) -> None:
    with FaultySMTP(lambda r, a: "ok") as server:
        config = with_steps(smtp_site(seed_config, server.port, database_url), steps)
        site = config.site.model_copy(update={"languages": ["zh-CN", "en"]})
        config = replace(config, settings=config.settings.model_copy(update={"site": site}))
        engine = database(config)
        english, chinese = confirm_at(engine, 2, BASE - timedelta(minutes=5))
        with engine.begin() as conn:
            store.set_language(conn, 1, "en", BASE)
        daemon = Daemon(config, SECRETS, engine, lambda: BASE)
        for _ in range(3):
            daemon.tick()
    assert server.languages == {english: ["en"], chinese: ["zh-CN"]}
    with engine.connect() as conn:
        recorded = dict(conn.execute(sa.select(deliveries.c.email, deliveries.c.language)
                                     .join(sends, sends.c.id == deliveries.c.send_id)
                                     .where(sends.c.issue_slug == "automation:welcome")).all())
    assert recorded == {english: "en", chinese: "zh-CN"}


def test_a_reader_whose_language_has_no_step_translation_gets_the_original_in_their_words(
    seed_config: Config, tmp_path: Path, database_url: str
) -> None:
    """No `welcome.en.md`: the English reader gets the Chinese welcome, its footer English."""
    folder = tmp_path / "automations"
    shutil.copytree(SITE / "automations", folder)
    with FaultySMTP(lambda r, a: "ok") as server:
        config = with_steps(smtp_site(seed_config, server.port, database_url), folder)
        site = config.site.model_copy(update={"languages": ["zh-CN", "en"]})
        config = replace(config, settings=config.settings.model_copy(update={"site": site}))
        engine = database(config)
        english, chinese = confirm_at(engine, 2, BASE - timedelta(minutes=5))
        with engine.begin() as conn:
            store.set_language(conn, 1, "en", BASE)
        daemon = Daemon(config, SECRETS, engine, lambda: BASE)
        for _ in range(3):
            daemon.tick()
    assert server.languages == {english: ["zh-CN"], chinese: ["zh-CN"]}
    c = deliveries.c
    with engine.connect() as conn:
        recorded = {email: (language, strings) for email, language, strings in conn.execute(
            sa.select(c.email, c.language, c.strings_language)
            .join(sends, sends.c.id == c.send_id)
            .where(sends.c.issue_slug == "automation:welcome")).all()}
        content = conn.execute(sa.select(sends.c.content).where(
            sends.c.issue_slug == "automation:welcome")).scalar_one()
    assert recorded == {english: ("zh-CN", "en"), chinese: ("zh-CN", None)}
    edition = thawed(dict(content)).translations["en"]
    assert edition.language == "zh-CN" and "\nUnsubscribe: " in edition.text
    assert "\nUnsubscribe: " not in thawed(dict(content)).text
