"""What a person sees of a table and code in the archive, at 375 and 1280 px: ruled cells
with room, whole words, a table that scrolls inside the column, and code set off."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from publisher.config import Config, PathsConfig, Secrets
from publisher.dev.screenshot import CHROMIUM, CHROMIUM_ARGS
from publisher.site.build import build_site
from publisher.web.app import create_app
from publisher.web.state import WebState
from tests.conftest import DATA, REPO, LiveServer

pytestmark = pytest.mark.chromium

NOW = datetime(2026, 1, 1, tzinfo=UTC)
PAGE = "/issues/table-and-code/"

MEASURE_JS = """() => {
  const cell = document.querySelector('td');
  const pre = document.querySelector('pre');
  const table = document.querySelector('table');
  const words = [];
  for (const td of document.querySelectorAll('td, th')) {
    // a word may wrap after a hyphen, as text does; never inside a run of letters and digits
    for (const word of td.textContent.match(/[A-Za-z0-9.,]{2,}/g) || []) {
      const range = document.createRange();
      const text = td.firstChild && td.firstChild.nodeType === 3 ? td.firstChild : null;
      if (!text) continue;
      const at = text.textContent.indexOf(word);
      if (at < 0) continue;
      range.setStart(text, at); range.setEnd(text, at + word.length);
      if (range.getClientRects().length > 1) words.push(word);
    }
  }
  const style = getComputedStyle(cell);
  return {
    pageWidth: document.documentElement.scrollWidth,
    cellBorder: style.borderTopWidth + ' ' + style.borderTopStyle,
    cellPadding: parseFloat(style.paddingLeft),
    preBackground: getComputedStyle(pre).backgroundColor,
    codeBackground: getComputedStyle(document.querySelector('p code')).backgroundColor,
    tableRight: table.getBoundingClientRect().right,
    splitWords: words,
  };
}"""


@pytest.fixture
def server(seed_config: Config, tmp_path: Path) -> Iterator[LiveServer]:
    issues = tmp_path / "issues"
    issues.mkdir()
    shutil.copy(DATA / "layout" / "table-and-code.md", issues)
    paths = PathsConfig(issues=str(issues), output=str(tmp_path / "public"),
                        templates=str(REPO / "templates"),
                        automations=str(tmp_path / "automations"))
    config = replace(seed_config, settings=seed_config.settings.model_copy(
        update={"paths": paths}))
    build_site(config, NOW)
    with LiveServer(create_app(WebState(config, Secrets(secret_keys=("k" * 32,))))) as live:
        yield live


def measure(url: str, width: int, shot: Path) -> dict[str, Any]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.goto(url, wait_until="load")
            page.screenshot(path=str(shot), full_page=True)
            found: dict[str, Any] = page.evaluate(MEASURE_JS)
            return found
        finally:
            browser.close()


@pytest.mark.parametrize("width", [375, 1280])
def test_an_archive_table_is_ruled_keeps_words_whole_and_code_is_set_off(
        server: LiveServer, tmp_path: Path, width: int) -> None:
    found = measure(server.url + PAGE, width, tmp_path / f"table-{width}.png")
    assert found["pageWidth"] <= width, f"the page scrolls sideways at {width}px: {found}"
    assert found["cellBorder"] == "1px solid", found
    assert found["cellPadding"] >= 8, found  # not the 1 px that ran columns together
    assert found["splitWords"] == [], f"words broken mid-word at {width}px"
    transparent = "rgba(0, 0, 0, 0)"
    assert found["preBackground"] != transparent and found["codeBackground"] != transparent
    assert found["tableRight"] <= width  # wider tables scroll inside the column
