"""Headless Chromium through Playwright: screenshots and layout facts of a page.

Which Chromium (Debian's unless PUBLISHER_CHROMIUM names another) is config's to say.

A screenshot of Chinese, Japanese or Korean text without a font for it shows boxes, so
`require_font` asks fontconfig first and names the package that fixes it.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from publisher.config import chromium_path
from publisher.errors import PublisherError

CHROMIUM = chromium_path()
CJK_FONT_PACKAGE = "fonts-noto-cjk"
CJK_LANGUAGES = ("zh", "ja", "ko")  # fontconfig's :lang= names are the primary subtags
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]


@dataclass(frozen=True)
class PageShot:
    """A screenshot and what the page looked like at one width."""

    width: int
    path: Path
    scroll_width: int
    visible_texts: dict[str, bool]
    words_split_in_links: list[str]  # words of links (not URLs) drawn on two lines: `Wikiped|ia`


def missing_font(language: str) -> str | None:
    """Why a page in `language` would render as boxes here, or None when a font covers it
    (or fontconfig's fc-list is not there to ask)."""
    primary = language.split("-")[0].lower()
    fc_list = shutil.which("fc-list")
    if primary not in CJK_LANGUAGES or fc_list is None:
        return None
    found = subprocess.run([fc_list, f":lang={primary}", "family"], capture_output=True,
                           text=True, timeout=60, check=False)
    if found.stdout.strip():
        return None
    return (f"no font for {language} is installed (fc-list :lang={primary} lists none), so "
            f"the screenshots would show boxes instead of text; install {CJK_FONT_PACKAGE} "
            f"(apt-get install {CJK_FONT_PACKAGE}) and try again")


def require_font(language: str) -> None:
    """Refuse to take screenshots that would show boxes instead of the language's text."""
    if problem := missing_font(language):
        raise PublisherError(problem)


def _playwright() -> Any:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise PublisherError("screenshots need Playwright: pip install 'publisher[dev]'") from exc
    if not Path(CHROMIUM).exists():
        raise PublisherError(f"{CHROMIUM}: Chromium not found (apt-get install chromium)")
    return sync_playwright()


_VISIBLE_JS = """(texts) => {
  const out = {};
  const all = Array.from(document.querySelectorAll('h1,h2,h3,h4,p,li,a'));
  for (const t of texts) {
    const el = all.find(e => e.textContent.includes(t));
    if (!el) { out[t] = false; continue; }
    const r = el.getBoundingClientRect(); const s = getComputedStyle(el);
    out[t] = r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none'
             && r.left >= 0 && r.right <= document.documentElement.clientWidth + 1;
  }
  return out;
}"""


_SPLIT_WORDS_JS = """() => {
  const split = [];
  for (const link of document.querySelectorAll('a')) {
    const label = link.textContent.trim();
    // a URL may break anywhere; only words must stay whole
    if (!/\\s/.test(label) && /:\\/\\/|@|^www\\./.test(label)) continue;
    const walker = document.createTreeWalker(link, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const m of node.data.matchAll(/[A-Za-z]+/g)) {
        const range = document.createRange();
        range.setStart(node, m.index); range.setEnd(node, m.index + m[0].length);
        const tops = new Set(Array.from(range.getClientRects(), r => Math.round(r.top)));
        if (tops.size > 1) split.push(m[0]);
      }
    }
  }
  return split;
}"""


def shoot(url: str, out_dir: Path, widths: list[int], texts: list[str] | None = None,
          stem: str = "page") -> list[PageShot]:
    """Open url at each width; save a full-page PNG and report scroll width and visibility."""
    out_dir.mkdir(parents=True, exist_ok=True)
    shots: list[PageShot] = []
    with _playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for width in widths:
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.goto(url, wait_until="load")
                path = out_dir / f"{stem}-{width}.png"
                page.screenshot(path=str(path), full_page=True)
                scroll_width = int(page.evaluate("document.documentElement.scrollWidth"))
                visible = page.evaluate(_VISIBLE_JS, texts or [])
                split = [str(word) for word in page.evaluate(_SPLIT_WORDS_JS)]
                shots.append(PageShot(width, path, scroll_width, dict(visible), split))
                page.close()
        finally:
            browser.close()
    return shots
