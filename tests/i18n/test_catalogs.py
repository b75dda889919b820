"""The gettext catalogs (issue 27, item 1): Babel's extraction over the package and the
templates finds no string outside them, no shipped language leaves an entry untranslated or
fuzzy, plural forms and dates come from Babel, and a BCP 47 tag finds its catalog."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg

from publisher.i18n import DOMAIN, catalog_name, shipped_catalogs, translator_for
from publisher.templating import date_label, default_templates_dir, environment
from tests.catalogs import catalog, msgids, translations

REPO = Path(__file__).resolve().parents[2]
SHIPPED = ("de", "en", "zh_Hans")
PLACEHOLDER = re.compile(r"\{([a-z_]+)(?::[^}]*)?\}")


def extracted() -> set[tuple[str | None, str]]:
    """What `pybabel extract -F babel.cfg .` finds: every marked string of the package and
    the templates, with its context."""
    with (REPO / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)  # type: ignore[no-untyped-call]
    found: set[tuple[str | None, str]] = set()
    for _filename, _line, message, _comments, context in extract_from_dir(
            str(REPO), method_map, options_map):
        found.add((context, message if isinstance(message, str) else message[0]))
    return found


def test_babel_ships_the_three_languages() -> None:
    assert shipped_catalogs() == SHIPPED


def test_every_string_extracted_is_in_the_template_and_in_every_catalog() -> None:
    found = extracted()
    assert len(found) > 200
    template = msgids(catalog(DOMAIN))
    assert found - template == set(), "run `make locale`"
    assert template - found == set(), "stale entries: run `make locale`"
    for language in SHIPPED:
        assert msgids(catalog(language)) == template, language


@pytest.mark.parametrize("language", SHIPPED)
def test_no_entry_of_a_shipped_catalog_is_untranslated_or_fuzzy(language: str) -> None:
    entries = [message for message in catalog(language) if message.id]
    untranslated = [message.id for message in entries
                    if not all(translations(message))]
    fuzzy = [message.id for message in entries if message.fuzzy]
    assert untranslated == [] and fuzzy == []


@pytest.mark.parametrize("language", SHIPPED)
def test_every_translation_keeps_the_placeholders_of_its_msgid(language: str) -> None:
    for message in catalog(language):
        if not message.id:
            continue
        ids = (message.id,) if isinstance(message.id, str) else message.id
        wanted = {name for text in ids for name in PLACEHOLDER.findall(text)}
        for text in translations(message):
            # a language of one plural form may drop the count from a singular-only text
            assert set(PLACEHOLDER.findall(text)) <= wanted, (language, message.id, text)
            assert set(PLACEHOLDER.findall(text)) >= wanted - {"n"}, (language, message.id)


def test_no_template_reads_the_old_strings_dict() -> None:
    templates = sorted(default_templates_dir().rglob("*.j2"))
    assert templates
    for template in templates:
        text = template.read_text(encoding="utf-8")
        assert not re.search(r"(?<![\w.])t(\.|\[)", text), template


@pytest.mark.parametrize(("language", "one", "two"), [
    ("en", "Subscribers, last 1 day", "Subscribers, last 2 days"),
    ("de", "Abonnenten, letzter 1 Tag", "Abonnenten, letzte 2 Tage"),
    ("zh-CN", "订阅者（最近 1 天）", "订阅者（最近 2 天）"),
])
def test_a_count_with_a_noun_takes_the_languages_plural_form(language: str, one: str,
                                                             two: str) -> None:
    heading = environment(default_templates_dir()).from_string(
        '{{ ngettext("Subscribers, last {n} day", "Subscribers, last {n} days", days) }}')
    functions = translator_for(language).template_functions()
    assert heading.render(days=1, **functions) == one
    assert heading.render(days=2, **functions) == two


@pytest.mark.parametrize(("language", "written"), [
    ("zh-CN", "2024年6月15日"), ("en", "June 15, 2024"), ("de", "15. Juni 2024"),
    ("de-AT", "15. Juni 2024"), ("en-GB", "June 15, 2024"),
])
def test_an_issue_date_is_written_by_babel_for_the_language(language: str,
                                                            written: str) -> None:
    assert date_label(datetime(2024, 6, 15, 9, 30, tzinfo=UTC), language) == written


@pytest.mark.parametrize(("tag", "name"), [
    ("zh-CN", "zh_Hans"), ("zh-Hans", "zh_Hans"), ("zh", "zh_Hans"), ("zh-TW", "zh_Hans"),
    ("de-AT", "de"), ("de", "de"), ("en-GB", "en"), ("en", "en"), ("fr", "en"),
    ("not a tag", "en"), ("", "en"),
])
def test_a_bcp47_tag_finds_its_catalog_or_falls_back_to_english(tag: str, name: str) -> None:
    assert catalog_name(tag) == name


def test_the_same_msgid_reads_in_each_language() -> None:
    assert [translator_for(tag).gettext("Unsubscribe") for tag in ("en", "zh-CN", "de")] == [
        "Unsubscribe", "退订", "Abbestellen"]
    assert translator_for("zh-CN").pgettext("chart", "Audience") == "收件人总数"
    assert translator_for("zh-CN").gettext("Audience") == "受众"
