"""Headless Chromium (Debian's) through Playwright: screenshots and layout facts of a page."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from publisher.errors import PublisherError

CHROMIUM = os.environ.get("PUBLISHER_CHROMIUM", "/usr/bin/chromium")
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
                shots.append(PageShot(width, path, scroll_width, dict(visible)))
                page.close()
        finally:
            browser.close()
    return shots
