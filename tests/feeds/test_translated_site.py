"""The seed site with its English translation: an /en/ edition with its own pages and feeds,
hreflang alternates both ways, and the site's language's URLs and feeds as they were."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest
from lxml import etree, html

from publisher.config import Config, Secrets
from publisher.site.build import build_site
from publisher.web.app import create_app
from publisher.web.state import WebState
from tests import web_client
from tests.conftest import DATA, EXPECTED_SITE, LiveServer, make_seed_config
from tests.feeds.helpers import write_issue
from tests.feeds.test_expected_site import site_files

BUILT_ON = datetime(2024, 7, 1, 9, 0, tzinfo=UTC)  # the expected-site tree's day
TRANSLATION = DATA / "translations" / "2024-06-first-half.en.md"
BASE = "http://127.0.0.1:8000"
SLUG = "2024-06-first-half"
ORIGINAL_ID = "tag:digest.example.org,2024-06-16:2024-06-first-half"
ATOM = "{http://www.w3.org/2005/Atom}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
XHTML = "{http://www.w3.org/1999/xhtml}"


def bilingual_config(root: Path, *, translated: bool = True) -> Config:
    """The seed site, publishing in zh-CN and en, its issues copied under root."""
    config = make_seed_config(root)
    issues = root / "issues"
    shutil.copytree(config.issues_dir, issues)
    if translated:
        shutil.copy(TRANSLATION, issues)
    site = config.site.model_copy(update={"languages": ["zh-CN", "en"]})
    paths = config.settings.paths.model_copy(update={"issues": str(issues)})
    return replace(config, settings=config.settings.model_copy(
        update={"site": site, "paths": paths}))


@pytest.fixture
def site(tmp_path: Path) -> Path:
    config = bilingual_config(tmp_path)
    build_site(config, BUILT_ON)
    return config.output_dir


def alternates(page: Path) -> dict[str, str]:
    tree = html.fromstring(page.read_bytes())
    return {link.get("hreflang"): link.get("href")
            for link in tree.xpath("//head/link[@rel='alternate'][@hreflang]")}


@pytest.mark.parametrize("name", ["feed.atom", "feed.rss", "tags/llm/feed.atom"])
def test_the_english_xml_feeds_parse_cleanly_and_hold_the_translation(site: Path,
                                                                      name: str) -> None:
    parsed = feedparser.parse((site / "en" / name).read_bytes())
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.feed.language == "en"
    (entry,) = parsed.entries
    assert entry.id == ORIGINAL_ID + "#en"
    assert entry.link == f"{BASE}/en/issues/{SLUG}/"
    assert entry.title == "Important LLM Papers of the First Half of June 2024"


def test_the_english_atom_feed_has_the_required_elements_and_its_language(site: Path) -> None:
    feed = etree.fromstring((site / "en" / "feed.atom").read_bytes())
    assert feed.get(XML_LANG) == "en"
    assert feed.findtext(ATOM + "id") == f"{BASE}/en/feed.atom"
    for tag in ("id", "title", "updated", "author/" + ATOM + "name", "generator", "subtitle"):
        assert feed.find(ATOM + tag) is not None, tag
    assert feed.find(f"{ATOM}link[@rel='self']").get("href") == f"{BASE}/en/feed.atom"
    assert feed.find(f"{ATOM}link[@rel='alternate']").get("href") == f"{BASE}/en/"


def test_the_english_rss_and_json_feeds_say_english(site: Path) -> None:
    rss = etree.fromstring((site / "en" / "feed.rss").read_bytes())
    assert rss.findtext("channel/language") == "en"
    feed = json.loads((site / "en" / "feed.json").read_text(encoding="utf-8"))
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["language"] == "en" and feed["feed_url"] == f"{BASE}/en/feed.json"
    assert feed["home_page_url"] == f"{BASE}/en/"
    (item,) = feed["items"]
    assert item["language"] == "en" and item["url"] == f"{BASE}/en/issues/{SLUG}/"


def test_original_and_translation_link_each_other_with_hreflang_and_x_default(
        site: Path) -> None:
    expected = {"zh-CN": f"{BASE}/issues/{SLUG}/", "en": f"{BASE}/en/issues/{SLUG}/",
                "x-default": f"{BASE}/issues/{SLUG}/"}
    assert alternates(site / "issues" / SLUG / "index.html") == expected
    assert alternates(site / "en" / "issues" / SLUG / "index.html") == expected
    homes = {"zh-CN": f"{BASE}/", "en": f"{BASE}/en/", "x-default": f"{BASE}/"}
    assert alternates(site / "index.html") == homes
    assert alternates(site / "en" / "index.html") == homes
    assert alternates(site / "en" / "tags" / "llm" / "index.html")["zh-CN"] == f"{BASE}/tags/llm/"


def test_each_page_shows_a_switcher_to_the_other_language_and_speaks_its_own(
        site: Path) -> None:
    english = html.fromstring((site / "en" / "issues" / SLUG / "index.html").read_bytes())
    assert english.get("lang") == "en"
    (switcher,) = english.xpath("//nav[@class='languages']")
    assert [a.get("href") for a in switcher.xpath("a")] == [f"{BASE}/issues/{SLUG}/"]
    assert switcher.xpath("span[@aria-current='page']/text()") == ["English"]
    assert english.xpath("//p/a[contains(., 'All issues')]/@href") == ["../../../en/index.html"]
    chinese = html.fromstring((site / "issues" / SLUG / "index.html").read_bytes())
    assert chinese.xpath("//nav[@class='languages']/a/@href") == [f"{BASE}/en/issues/{SLUG}/"]


def test_the_sitemap_lists_every_edition_with_its_alternates(site: Path) -> None:
    root = etree.fromstring((site / "sitemap.xml").read_bytes())
    rows = {url.findtext(SITEMAP + "loc"): {link.get("hreflang"): link.get("href")
                                            for link in url.findall(XHTML + "link")}
            for url in root.findall(SITEMAP + "url")}
    assert set(rows) == {f"{BASE}/", f"{BASE}/en/", f"{BASE}/issues/{SLUG}/",
                         f"{BASE}/en/issues/{SLUG}/"}
    assert rows[f"{BASE}/en/issues/{SLUG}/"] == {
        "zh-CN": f"{BASE}/issues/{SLUG}/", "en": f"{BASE}/en/issues/{SLUG}/",
        "x-default": f"{BASE}/issues/{SLUG}/"}


def test_the_site_languages_urls_and_feeds_stay_as_they_were(site: Path) -> None:
    """Every file of the untranslated site is still there; feeds and emails are unchanged
    to the byte (pages gain only their alternates)."""
    expected, built = site_files(EXPECTED_SITE), site_files(site)
    assert set(expected) <= set(built)
    unchanged = [name for name in expected if name.endswith((".atom", ".rss", ".json", ".txt"))
                 or name.endswith("email.html")]
    assert unchanged and all(built[name] == expected[name] for name in unchanged)


def test_a_site_that_lists_languages_but_has_no_translation_builds_as_before(
        tmp_path: Path) -> None:
    config = bilingual_config(tmp_path, translated=False)
    build_site(config, BUILT_ON)
    assert site_files(config.output_dir) == site_files(EXPECTED_SITE)


def test_an_untranslated_issue_is_listed_only_in_the_sites_language(tmp_path: Path) -> None:
    config = bilingual_config(tmp_path)
    write_issue(config.issues_dir, "only-chinese", 20, tags="[llm]")
    build_site(config, BUILT_ON)
    out = config.output_dir
    assert "only-chinese" in (out / "index.html").read_text(encoding="utf-8")
    assert "only-chinese" not in (out / "en" / "index.html").read_text(encoding="utf-8")
    assert "only-chinese" not in (out / "en" / "feed.atom").read_text(encoding="utf-8")
    assert not (out / "en" / "issues" / "only-chinese").exists()
    assert alternates(out / "issues" / "only-chinese" / "index.html") == {}


def test_removing_the_translation_removes_its_edition(tmp_path: Path) -> None:
    config = bilingual_config(tmp_path)
    build_site(config, BUILT_ON)
    (config.issues_dir / TRANSLATION.name).unlink()
    build_site(config, BUILT_ON)
    assert not (config.output_dir / "en").exists()
    assert site_files(config.output_dir) == site_files(EXPECTED_SITE)


def test_the_root_is_the_same_page_whatever_the_browser_asks(tmp_path: Path) -> None:
    config = bilingual_config(tmp_path)
    build_site(config, BUILT_ON)
    state = WebState(config, Secrets(secret_keys=("k" * 32,)))
    with LiveServer(create_app(state)) as live, web_client.Client(base_url=live.url) as client:
        plain = client.get("/", headers={"Accept-Encoding": "identity"})
        english = client.get("/", headers={"Accept-Language": "en-US,en;q=0.9",
                                           "Accept-Encoding": "identity",
                                           "X-Forwarded-For": "8.8.8.8"})
        edition = client.get("/en/", headers={"Accept-Encoding": "identity"})
    assert plain.status_code == english.status_code == edition.status_code == 200
    assert plain.content == english.content
    assert 'lang="en"' in edition.text


def test_the_websub_hub_hears_of_every_editions_feeds(tmp_path: Path) -> None:
    config = bilingual_config(tmp_path)
    feeds = config.settings.feeds.model_copy(update={"websub_hub": "http://127.0.0.1:9/hub"})
    config = replace(config, settings=config.settings.model_copy(update={"feeds": feeds}))
    pings: list[list[str]] = []
    build_site(config, BUILT_ON, ping=lambda _hub, topics: pings.append(topics))
    (topics,) = pings
    assert f"{BASE}/feed.atom" in topics and f"{BASE}/en/feed.atom" in topics
    assert f"{BASE}/en/feed.json" in topics
