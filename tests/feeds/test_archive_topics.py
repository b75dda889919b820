"""The archive shows which topics readers can choose an issue belongs to, in the page's
language, linking to the tag pages and feeds that already exist."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from lxml import html as lxml_html

from publisher.config import Config
from publisher.site.build import build_site
from tests.feeds.helpers import private_site, write_issue

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def topic_links(page: Path) -> list[list[tuple[str, str]]]:
    """Per `p.topics` line of the page: (label, href) of each link."""
    doc = lxml_html.fromstring(page.read_bytes())
    return [[(a.text_content(), a.get("href")) for a in line.iter("a")]
            for line in doc.find_class("topics")]


def test_the_seed_issue_shows_its_topics_with_chinese_labels_on_its_page_and_the_index(
    seed_config: Config,
) -> None:
    build_site(seed_config, NOW)
    site = seed_config.output_dir
    issue = site / "issues/2024-06-first-half/index.html"
    assert topic_links(issue) == [[("大语言模型", "../../tags/llm/index.html"),
                                   ("论文", "../../tags/papers/index.html")]]
    assert topic_links(site / "index.html") == [[("大语言模型", "./tags/llm/index.html"),
                                                 ("论文", "./tags/papers/index.html")]]
    assert "#llm" not in issue.read_text(encoding="utf-8")  # shown once, as a topic
    for tag in ("llm", "papers"):
        assert (site / "tags" / tag / "index.html").exists()
        assert (site / "tags" / tag / "feed.atom").exists()


def test_an_english_issue_uses_english_labels_and_other_tags_stay_plain(
    seed_config: Config, tmp_path: Path
) -> None:
    config = private_site(seed_config, tmp_path)
    write_issue(tmp_path / "issues", "weekly-1", 3, tags="[LLM, weekly]")
    topics = {"llm": {"en": "Large language models", "zh": "大语言模型"}}
    config = replace(config, settings=config.settings.model_copy(update={"topics": topics}))
    build_site(config, NOW)
    page = config.output_dir / "issues/weekly-1/index.html"
    assert topic_links(page) == [[("Large language models", "../../tags/llm/index.html")]]
    doc = lxml_html.fromstring(page.read_bytes())
    meta = doc.find_class("meta")[0]
    assert [a.text_content() for a in meta.iter("a")] == ["#weekly"]
    seed = config.output_dir / "issues/2024-06-first-half/index.html"
    assert topic_links(seed) == [[("大语言模型", "../../tags/llm/index.html")]]
    assert "#papers" in seed.read_text(encoding="utf-8")  # not a topic: a plain tag
