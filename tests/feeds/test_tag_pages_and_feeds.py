"""Tags: one ASCII path per tag whatever its spelling, reachable over HTTP from the archive,
one tag for spellings that differ only in case, and tag feeds archived like the main feed."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import feedparser
import httpx
from lxml import etree
from lxml import html as lxml_html

from publisher.config import Config, Secrets
from publisher.site.build import build_site
from publisher.urls import tag_path
from publisher.web.app import create_app
from publisher.web.state import WebState
from tests import web_client
from tests.conftest import LiveServer
from tests.feeds.helpers import private_site, write_issue

NOW = datetime(2026, 1, 1, tzinfo=UTC)
BASE = "http://127.0.0.1:8000"  # the seed site's base_url, which absolute links carry
ATOM = "{http://www.w3.org/2005/Atom}"


def site_with_awkward_tags(seed_config: Config, tmp_path: Path, page_size: int = 20) -> Config:
    config = private_site(seed_config, tmp_path, page_size=page_size)
    write_issue(config.issues_dir, "spaces", 1, tags='["machine learning", LLM]')
    write_issue(config.issues_dir, "chinese", 2, tags="[大模型, LLM]")
    write_issue(config.issues_dir, "slash", 3, tags='["C/C++", "C#", llm]')
    return config


def local_path(href: str, page: str) -> str:
    """The server path a link on `page` points to (relative, or absolute on the site)."""
    url = href.replace(BASE, "", 1) if href.startswith(BASE) else urljoin(page, href)
    return urlsplit(url).path


def links(client: httpx.Client, page: str) -> list[str]:
    response = client.get(page)
    assert response.status_code == 200, page
    doc = lxml_html.fromstring(response.content)
    hrefs = [a.get("href") for a in doc.iter("a", "link") if a.get("href")]
    return [local_path(href, page) for href in hrefs
            if href.startswith(BASE) or not re.match(r"^[a-z]+:", href)]


def test_every_tag_page_and_tag_feed_linked_from_the_archive_answers_200_over_http(
    seed_config: Config, tmp_path: Path
) -> None:
    config = site_with_awkward_tags(seed_config, tmp_path, page_size=1)
    build_site(config, NOW)
    with LiveServer(create_app(WebState(config, Secrets(secret_keys=("k" * 32,))))) as live, \
            web_client.Client(base_url=live.url) as client:
        pages = ["/", "/issues/spaces/", "/issues/chinese/", "/issues/slash/"]
        tag_pages = sorted({path for page in pages for path in links(client, page)
                            if path.startswith("/tags/")})
        assert len(tag_pages) == 6  # llm, papers, machine learning, 大模型, C/C++, C#
        feeds = sorted({path for page in tag_pages for path in links(client, page)
                        if path.startswith("/tags/") and "/feed." in path})
        assert len(feeds) == 3 * 6
        older = []
        for feed in feeds:
            response = client.get(feed)
            assert response.status_code == 200, feed
            if feed.endswith(".atom"):
                parsed = feedparser.parse(response.content)
                older += [local_path(link.href, feed) for link in parsed.feed.links
                          if link.rel == "prev-archive"]
        assert older, "the llm tag has three issues in archive documents of one"
        for feed in older:
            assert client.get(feed).status_code == 200, feed
    folders = [p.relative_to(config.output_dir).as_posix() for p in config.output_dir.rglob("*")]
    assert all(re.fullmatch(r"[a-z0-9./_-]+", name) for name in folders), folders


def test_spellings_that_differ_only_in_case_are_one_tag_spelled_as_most_issues_spell_it(
    seed_config: Config, tmp_path: Path
) -> None:
    config = site_with_awkward_tags(seed_config, tmp_path)
    build_site(config, NOW)
    site = config.output_dir
    assert sorted(p.name for p in (site / "tags").iterdir() if p.name.startswith("l")) == ["llm"]
    page = lxml_html.fromstring((site / "tags/llm/index.html").read_bytes())
    assert page.findtext(".//h2") == "标签 #LLM"  # LLM twice, llm twice: the earliest wins
    assert [a.text for a in page.iter("a") if a.text and a.text.startswith("#l")] == []
    atom = feedparser.parse((site / "tags/llm/feed.atom").read_bytes())
    assert atom.feed.title == "LLM 论文双周摘要 · LLM"
    assert {e.link.rsplit("/", 2)[-2] for e in atom.entries} == {
        "spaces", "chinese", "slash", "2024-06-first-half"}


def test_a_tag_is_shown_as_written_and_lives_on_one_ascii_path(
    seed_config: Config, tmp_path: Path
) -> None:
    config = site_with_awkward_tags(seed_config, tmp_path)
    build_site(config, NOW)
    site = config.output_dir
    for tag in ("machine learning", "大模型", "C/C++", "C#"):
        folder = tag_path(tag)
        assert re.fullmatch(r"/tags/[a-z0-9-]+/", folder), folder
        page = (site / folder.strip("/") / "index.html").read_text(encoding="utf-8")
        assert f"#{tag}</h2>" in page
        feed = json.loads((site / folder.strip("/") / "feed.json").read_text(encoding="utf-8"))
        assert feed["title"].endswith(f" · {tag}")
        assert feed["feed_url"] == f"{BASE}{folder}feed.json"
    assert tag_path("大模型").startswith("/tags/da-mo-xing-")
    assert tag_path("C/C++") != tag_path("C#") != tag_path("c")
    assert tag_path("Machine  Learning") == tag_path("machine learning")


def test_tag_feeds_are_archived_like_the_main_feed(seed_config: Config, tmp_path: Path) -> None:
    config = private_site(seed_config, tmp_path, page_size=2)
    for day in range(1, 6):
        write_issue(config.issues_dir, f"may-{day}", day)
    build_site(config, NOW)
    site = config.output_dir / "tags" / "weekly"  # may-1 to may-5: the seed is not weekly
    first = feedparser.parse((site / "feed.atom").read_bytes())
    rels = {link.rel: link.href for link in first.feed.links}
    assert [e.title for e in first.entries] == ["Issue may-5", "Issue may-4"]
    assert rels["prev-archive"] == f"{BASE}/tags/weekly/feeds/archive-2.atom"
    ids: list[str] = []
    for page in ("feed.atom", "feeds/archive-2.atom", "feeds/archive-1.atom"):
        ids += [e.id for e in feedparser.parse((site / page).read_bytes()).entries]
    assert len(set(ids)) == 5 and ids.count(ids[1]) == 2  # may-4: newest and archived
    assert not (site / "feeds" / "archive-3.atom").exists()
    oldest = etree.fromstring((site / "feeds/archive-1.atom").read_bytes())
    assert {link.get("rel"): link.get("href") for link in oldest.findall(f"{ATOM}link")
            if link.get("rel") != "alternate"} == {
        "self": f"{BASE}/tags/weekly/feeds/archive-1.atom",
        "current": f"{BASE}/tags/weekly/feed.atom",
        "next-archive": f"{BASE}/tags/weekly/feeds/archive-2.atom"}
    assert 'rel="prev-archive"' in (site / "feed.rss").read_text(encoding="utf-8")
    assert json.loads((site / "feed.json").read_text())["next_url"].endswith(
        "/tags/weekly/feeds/archive-2.json")
