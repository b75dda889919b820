"""Every page a reader meets, in each language of a `languages = ["zh-CN", "en"]` site, as
Chromium shows it on a phone: the subscribe form, "check your inbox", the confirm page and its
answer, the preferences page, the unsubscribe page and its answer. A reader who chose a
language is led through the whole flow (the confirmation link comes from the real mail);
each page is screenshotted, says its language in `<html lang>`, and shows no untranslated
string: an English page has no Chinese character, a Chinese page no English sentence of the
catalogs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from publisher.dev.screenshot import CHROMIUM, CHROMIUM_ARGS
from publisher.tokens import TokenSigner, preferences_token, unsubscribe_token
from tests.catalogs import catalog
from tests.sending.helpers import SECRETS
from tests.subscribers.test_reader_language_web import bilingual, stored  # noqa: F401
from tests.subscribers.test_web_flows import Site, confirm_link

# What the reader sees, without what no translation changes: the site's title (a name: the
# test also removes it where a sentence names it), the zone names (IANA's), the languages
# (each named in itself) and the reader's own address.
VISIBLE_TEXT = """() => {
  const page = document.body.cloneNode(true);
  page.querySelectorAll('.brand, select, .hp').forEach((node) => node.remove());
  return page.innerText.replaceAll(/\\S+@example\\.org/g, '');
}"""
HAN = re.compile(r"[\u3400-\u9fff]")
READER = "reader@example.org"


def english_sentences() -> list[str]:
    """The catalogs' English texts of two words or more (each before its first
    placeholder): what a Chinese page must not show."""
    pieces = (str(message.id if isinstance(message.id, str) else message.id[0])
              for message in catalog("en") if message.id)
    return sorted({part.strip() for piece in pieces for part in re.split(r"\{\w+\}", piece)
                   if len(part.strip().split()) >= 2})


def untranslated(text: str, language: str) -> list[str]:
    """What on a page of `language` belongs to the other language."""
    if language == "en":
        return HAN.findall(text)
    return [sentence for sentence in english_sentences() if sentence in text]


def walk(site: Site, page: Page, language: str) -> Iterator[tuple[str, Page]]:
    """The reader's way through the site, one named page at a time."""
    page.goto(site.url + "/subscribe")
    yield "subscribe", page
    page.fill("input[name=email]", READER)
    page.select_option("select[name=language]", language)
    page.click("form button[type=submit]")
    page.wait_for_load_state()
    yield "check-inbox", page
    (mail,) = site.mails()
    page.goto(confirm_link(mail))
    yield "confirm", page
    page.click("form button[type=submit]")
    page.wait_for_load_state()
    yield "confirmed", page
    reader = stored(site, READER)
    signer = TokenSigner(SECRETS.secret_keys)
    page.goto(f"{site.url}/preferences/{preferences_token(signer, reader.id, reader.email)}")
    yield "preferences", page
    page.goto(f"{site.url}/unsubscribe/{unsubscribe_token(signer, reader.id, reader.email)}")
    yield "unsubscribe", page
    page.click("form button[type=submit]")
    page.wait_for_load_state()
    yield "unsubscribed", page


@pytest.mark.chromium
@pytest.mark.parametrize(("browser_locale", "language"), [("zh-CN", "en"), ("en-GB", "zh-CN")])
def test_every_page_of_a_readers_way_speaks_their_language_with_nothing_untranslated(
        bilingual: Site, tmp_path: Path, browser_locale: str, language: str,  # noqa: F811
) -> None:
    """The browser asks for the other language: the reader's choice on the form wins on
    every page after it."""
    seen: dict[str, tuple[str | None, list[str]]] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(locale=browser_locale,
                                      viewport={"width": 375, "height": 812})
        for name, page in walk(bilingual, context.new_page(), language):
            page.screenshot(path=str(tmp_path / f"{name}-{language}-375.png"), full_page=True)
            shown = page.get_attribute("html", "lang") or ""
            text = page.evaluate(VISIBLE_TEXT).replace(bilingual.config.site.title, "")
            seen[name] = (shown, untranslated(text, shown))
        browser.close()
    assert list(seen) == ["subscribe", "check-inbox", "confirm", "confirmed", "preferences",
                          "unsubscribe", "unsubscribed"]
    # the form itself follows the browser until the reader chooses
    form_language = "en" if language == "zh-CN" else "zh-CN"
    assert seen == {name: (form_language if name == "subscribe" else language, [])
                    for name in seen}
    assert bilingual.status(READER) == "unsubscribed"
