"""Entry ids survive edits, drafts and future issues stay out, old entries are archived."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import feedparser

from publisher.config import Config
from publisher.site.build import build_site, preview_dir
from tests.feeds.helpers import private_site, write_issue

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def entry_ids(site: Path) -> list[str]:
    return [e.id for e in feedparser.parse((site / "feed.atom").read_bytes()).entries]


def test_editing_an_issue_title_keeps_its_entry_id_and_bumps_updated(
    seed_config: Config, tmp_path: Path
) -> None:
    config = private_site(seed_config, tmp_path)
    issue = config.issues_dir / "2024-06-first-half.md"
    build_site(config, NOW)
    before = feedparser.parse((config.output_dir / "feed.atom").read_bytes()).entries[0]
    text = issue.read_text(encoding="utf-8")
    text = text.replace('title: "2024年6月上半月重要LLM论文"', 'title: "六月上半月 LLM 论文"')
    text = text.replace("language: zh-CN", "language: zh-CN\nupdated: 2024-06-20T10:00:00+08:00")
    issue.write_text(text, encoding="utf-8")
    report = build_site(config, NOW)
    after = feedparser.parse((config.output_dir / "feed.atom").read_bytes()).entries[0]
    assert report.rendered == ["2024-06-first-half"]
    assert after.id == before.id
    assert after.title == "六月上半月 LLM 论文"
    assert after.updated > before.updated


def test_an_issue_without_explicit_id_gets_a_tag_uri_that_ignores_the_title(
    seed_config: Config, tmp_path: Path
) -> None:
    config = private_site(seed_config, tmp_path)
    write_issue(config.issues_dir, "plain", 3, title="Before")
    build_site(config, NOW)
    first = entry_ids(config.output_dir)
    write_issue(config.issues_dir, "plain", 3, title="After")
    build_site(config, NOW)
    assert "tag:127.0.0.1,2024-05-03:plain" in first
    assert entry_ids(config.output_dir) == first


def test_drafts_and_future_issues_stay_out_of_feeds_and_archive(
    seed_config: Config, tmp_path: Path
) -> None:
    config = replace(private_site(seed_config, tmp_path), root=tmp_path)  # var/ in tmp_path
    write_issue(config.issues_dir, "draft", 4, extra="draft: true\n")
    future = write_issue(config.issues_dir, "future", 5)
    future.write_text(future.read_text().replace("2024-05-05", "2030-05-05"))
    build_site(config, NOW)
    ids = entry_ids(config.output_dir)
    assert not any("draft" in i or "future" in i for i in ids)
    assert not (config.output_dir / "issues" / "draft" / "index.html").exists()
    assert not (config.output_dir / "issues" / "draft" / "email.html").exists()
    assert (preview_dir(config) / "issues" / "draft" / "email.html").exists()  # private


def test_main_feed_holds_the_newest_entries_and_links_an_archive_numbered_from_the_oldest(
    seed_config: Config, tmp_path: Path
) -> None:
    config = private_site(seed_config, tmp_path, page_size=2)
    for day in range(1, 6):
        write_issue(config.issues_dir, f"may-{day}", day)
    build_site(config, NOW)
    site = config.output_dir
    first = feedparser.parse((site / "feed.atom").read_bytes())
    links = {link.rel: link.href for link in first.feed.links}
    assert [e.title for e in first.entries][1:] == ["Issue may-5"]
    assert first.entries[0].id.endswith("2024-06-first-half")
    assert links["prev-archive"] == "http://127.0.0.1:8000/feeds/archive-3.atom"
    assert not {"current", "next-archive", "next", "first"} & set(links)
    oldest = feedparser.parse((site / "feeds" / "archive-1.atom").read_bytes())
    assert [e.title for e in oldest.entries] == ["Issue may-2", "Issue may-1"]
    assert {link.rel for link in oldest.feed.links} >= {"current", "next-archive"}
    assert "prev-archive" not in {link.rel for link in oldest.feed.links}
    all_ids = []
    for page in ("feeds/archive-1.atom", "feeds/archive-2.atom", "feeds/archive-3.atom"):
        document = (site / page).read_bytes()
        assert b"<fh:archive/>" in document and b"<fh:archive/>" not in (site / "feed.atom"
                                                                        ).read_bytes()
        all_ids += [e.id for e in feedparser.parse(document).entries]
    assert len(all_ids) == len(set(all_ids)) == 6
    rss = (site / "feed.rss").read_text(encoding="utf-8")
    assert 'rel="prev-archive"' in rss
    assert "<fh:archive/>" in (site / "feeds" / "archive-2.rss").read_text(encoding="utf-8")
    assert json.loads((site / "feed.json").read_text())["next_url"].endswith("archive-3.json")
    assert json.loads((site / "feeds/archive-2.json").read_text())["next_url"].endswith(
        "/feeds/archive-1.json")
    assert "next_url" not in json.loads((site / "feeds/archive-1.json").read_text())


def test_relative_links_in_content_become_absolute(seed_config: Config, tmp_path: Path) -> None:
    config = private_site(seed_config, tmp_path)
    write_issue(config.issues_dir, "rel", 6)
    build_site(config, NOW)
    feed = json.loads((config.output_dir / "feed.json").read_text())
    item = next(i for i in feed["items"] if i["url"].endswith("/issues/rel/"))
    assert 'href="http://127.0.0.1:8000/issues/rel/"' in item["content_html"]


def test_a_websub_hub_is_advertised_and_pinged_only_when_feeds_change(
    seed_config: Config, tmp_path: Path
) -> None:
    config = private_site(seed_config, tmp_path)
    feeds = config.settings.feeds.model_copy(update={"websub_hub": "http://127.0.0.1:9/hub"})
    config = type(config)(config.settings.model_copy(update={"feeds": feeds}), config.root)
    pings: list[tuple[str, list[str]]] = []
    build_site(config, NOW, ping=lambda hub, topics: pings.append((hub, topics)))
    build_site(config, NOW, ping=lambda hub, topics: pings.append((hub, topics)))
    assert len(pings) == 1 and pings[0][0] == "http://127.0.0.1:9/hub"
    atom = feedparser.parse((config.output_dir / "feed.atom").read_bytes())
    assert any(link.rel == "hub" for link in atom.feed.links)
