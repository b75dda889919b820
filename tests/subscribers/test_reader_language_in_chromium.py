"""The subscribe form in both languages of a `languages = ["zh-CN", "en"]` site, as Chromium
shows it to a browser set to each (its Accept-Language preselecting the language), with a
screenshot of each: every fixed string in the page's language, none left in the other."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from publisher.dev.screenshot import CHROMIUM, CHROMIUM_ARGS
from publisher.i18n import translator_for
from tests.subscribers.test_reader_language_web import bilingual  # noqa: F401 - the fixture
from tests.subscribers.test_web_flows import Site

FORM_STRINGS = ("Get it by email",
                "We send a confirmation link first. Unsubscribe in one click.",
                "Email address", "Name (optional)", "Topics",
                "Pick the topics you want to hear about.", "Your time zone (optional)",
                "Some issues arrive at a set hour of your day; this is the zone they use. "
                "Leave it unset to use the site's.",
                "Language of the emails and pages", "Subscribe")
# What the reader sees, without what no translation changes: the site's title, the zone
# names (IANA's) and the languages, each named in itself.
VISIBLE_TEXT = """() => {
  const page = document.body.cloneNode(true);
  page.querySelectorAll('.brand, #subscribe-timezone, #subscribe-language, .hp')
      .forEach((node) => node.remove());
  return page.innerText;
}"""
HAN = re.compile(r"[\u3400-\u9fff]")


@pytest.mark.chromium
@pytest.mark.parametrize(("browser_locale", "language"), [("en-GB", "en"), ("zh-CN", "zh-CN")])
def test_the_subscribe_page_speaks_the_browsers_language_with_no_untranslated_string(
        bilingual: Site, tmp_path: Path, browser_locale: str, language: str,  # noqa: F811
) -> None:
    shown = translator_for(language).gettext
    other = translator_for("zh-CN" if language == "en" else "en").gettext
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(locale=browser_locale,
                                      viewport={"width": 375, "height": 900})
        page = context.new_page()
        page.goto(bilingual.url + "/subscribe")
        page.screenshot(path=str(tmp_path / f"subscribe-{language}-375.png"), full_page=True)
        assert page.get_attribute("html", "lang") == language
        assert page.eval_on_selector("#subscribe-language", "select => select.value") == language
        text = page.evaluate(VISIBLE_TEXT)
        browser.close()
    for message in FORM_STRINGS:
        assert shown(message).split("{", 1)[0].strip() in text, message
        assert other(message).split("{", 1)[0].strip() not in text, message
    if language == "en":
        assert not HAN.search(text), text
