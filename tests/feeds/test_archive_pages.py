"""The web archive: structure a screen reader needs, discovery links, the subscribe form,
and what a person sees in Chromium at phone and desktop widths."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from lxml import html as lxml_html

from publisher.config import Config, Secrets
from publisher.dev.screenshot import shoot
from publisher.site.build import build_site
from publisher.web.app import create_app
from publisher.web.state import WebState
from tests.conftest import LiveServer
from tests.issues.seed import seed_titles, seed_urls

NOW = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def site(seed_config: Config) -> Path:
    build_site(seed_config, NOW)
    return seed_config.output_dir


def heading_levels(page: str) -> list[int]:
    return [int(level) for level in re.findall(r"<h([1-6])[ >]", page)]


@pytest.mark.parametrize("name", ["index.html", "issues/2024-06-first-half/index.html",
                                  "tags/llm/index.html"])
def test_pages_have_lang_ordered_headings_and_feed_discovery(site: Path, name: str) -> None:
    page = (site / name).read_text(encoding="utf-8")
    doc = lxml_html.fromstring(page)
    assert doc.get("lang") == "zh-CN"
    levels = heading_levels(page)
    assert levels[0] == 1 and levels.count(1) == 1
    assert all(b - a <= 1 for a, b in zip(levels, levels[1:], strict=False)), levels
    types = {link.get("type") for link in doc.iter("link") if link.get("rel") == "alternate"}
    assert types == {"application/atom+xml", "application/rss+xml", "application/feed+json"}
    assert all(img.get("alt") for img in doc.iter("img"))
    form = doc.find(".//form")
    assert form is not None and form.get("action") == "http://127.0.0.1:8000/subscribe"
    names = {i.get("name") for i in form.iter("input")}
    assert names == {"email", "name", "website", "topic", "timezone"}
    for field in form.iter("input"):  # a label names it, or holds it (a topic's checkbox)
        wrapped = field.getparent() is not None and field.getparent().tag == "label"
        assert wrapped or doc.find(f".//label[@for='{field.get('id')}']") is not None


def test_the_issue_page_carries_the_whole_edition(site: Path) -> None:
    page = (site / "issues/2024-06-first-half/index.html").read_text(encoding="utf-8")
    missing = [item for item in seed_titles() + seed_urls() if item not in page]
    assert missing == []


def test_sitemap_lists_the_index_and_each_issue(site: Path) -> None:
    sitemap = (site / "sitemap.xml").read_text(encoding="utf-8")
    assert "<loc>http://127.0.0.1:8000/issues/2024-06-first-half/</loc>" in sitemap


@pytest.fixture
def server(seed_config: Config, site: Path) -> Iterator[LiveServer]:
    with LiveServer(create_app(WebState(seed_config, Secrets(secret_keys=("k" * 32,))))) as live:
        yield live


@pytest.mark.parametrize("path", ["/", "/issues/2024-06-first-half/"])
def test_archive_renders_without_horizontal_scroll_at_375_and_1280(
    server: LiveServer, tmp_path: Path, path: str
) -> None:
    texts = seed_titles()[:3] if "issues" in path else ["2024年6月上半月重要LLM论文"]
    shots = shoot(server.url + path, tmp_path, [375, 1280], texts=texts,
                  stem=path.strip("/").replace("/", "-") or "index")
    for shot in shots:
        assert shot.scroll_width <= shot.width, f"{path} scrolls sideways at {shot.width}px"
        assert all(shot.visible_texts.values()), shot.visible_texts
        assert shot.path.stat().st_size > 5_000
