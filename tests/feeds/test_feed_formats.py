"""Atom, RSS and JSON Feed of the seed site: valid, complete, full content, stable."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest
from lxml import etree

from publisher.config import Config
from publisher.site.build import build_site
from tests.issues.seed import seed_titles, seed_urls

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ATOM = "{http://www.w3.org/2005/Atom}"


@pytest.fixture
def site(seed_config: Config) -> Path:
    build_site(seed_config, NOW)
    return seed_config.output_dir


@pytest.mark.parametrize("name", ["feed.atom", "feed.rss"])
def test_feedparser_reads_the_xml_feeds_without_complaint(site: Path, name: str) -> None:
    parsed = feedparser.parse((site / name).read_bytes())
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert len(parsed.entries) == 1
    entry = parsed.entries[0]
    assert entry.id == "tag:digest.example.org,2024-06-16:2024-06-first-half"
    assert entry.link == "http://127.0.0.1:8000/issues/2024-06-first-half/"
    assert [t.term for t in entry.tags] == ["llm", "papers"]
    assert entry.author == "Youssef Hosni"


def test_atom_has_the_rfc4287_required_elements(site: Path) -> None:
    feed = etree.fromstring((site / "feed.atom").read_bytes())
    assert feed.get("{http://www.w3.org/XML/1998/namespace}lang") == "zh-CN"
    for tag in ("id", "title", "updated", "author/" + ATOM + "name", "generator", "subtitle"):
        assert feed.find(ATOM + tag) is not None, tag
    assert feed.find(f"{ATOM}link[@rel='self']") is not None
    assert feed.find(f"{ATOM}link[@rel='alternate']") is not None
    entry = feed.find(ATOM + "entry")
    assert entry is not None
    for tag in ("id", "title", "updated", "published", "author", "summary", "link"):
        assert entry.find(ATOM + tag) is not None, tag
    content = entry.find(ATOM + "content")
    assert content is not None and content.get("type") == "html"
    assert feed.findtext(ATOM + "updated") == "2024-06-16T09:00:00+08:00"


def test_rss_has_the_required_channel_and_item_elements(site: Path) -> None:
    rss = etree.fromstring((site / "feed.rss").read_bytes())
    assert rss.get("version") == "2.0"
    channel = rss.find("channel")
    assert channel is not None
    for tag in ("title", "link", "description", "language", "lastBuildDate", "generator"):
        assert channel.findtext(tag), tag
    assert channel.findtext("language") == "zh-CN"
    item = channel.find("item")
    assert item is not None
    for tag in ("title", "link", "description", "guid", "pubDate"):
        assert item.findtext(tag), tag
    encoded = item.findtext("{http://purl.org/rss/1.0/modules/content/}encoded")
    assert encoded and "<h2" in encoded


def test_json_feed_has_the_required_fields_of_version_1_1(site: Path) -> None:
    feed = json.loads((site / "feed.json").read_text(encoding="utf-8"))
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["title"] and feed["home_page_url"] and feed["feed_url"].endswith("/feed.json")
    assert feed["language"] == "zh-CN"
    for item in feed["items"]:
        assert isinstance(item["id"], str) and item["id"]
        assert item["content_html"] and item["url"].startswith("http")
        datetime.fromisoformat(item["date_published"])
        assert item["authors"] == [{"name": "Youssef Hosni"}]


@pytest.mark.parametrize("name", ["feed.atom", "feed.rss", "feed.json",
                                  "tags/llm/feed.atom", "tags/papers/feed.rss"])
def test_every_seed_title_and_url_is_in_the_feed_content(site: Path, name: str) -> None:
    text = (site / name).read_text(encoding="utf-8")
    if name.endswith(".json"):
        text = json.loads(text)["items"][0]["content_html"]
    else:
        parsed = feedparser.parse((site / name).read_bytes())
        text = parsed.entries[0].content[0].value
    missing = [item for item in seed_titles() + seed_urls()[:-1] if item not in text]
    assert missing == []


def test_rebuilding_unchanged_content_leaves_every_feed_byte_identical(
    seed_config: Config,
) -> None:
    build_site(seed_config, NOW)
    feeds = sorted(seed_config.output_dir.rglob("feed.*"))
    before = {p: p.read_bytes() for p in feeds}
    report = build_site(seed_config, datetime(2027, 6, 1, tzinfo=UTC))
    assert {p: p.read_bytes() for p in feeds} == before
    assert report.written == [] and report.rendered == []
