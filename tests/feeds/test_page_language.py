"""A page speaks one language: an issue page its issue's (lang, chrome and date), the index
and tag pages the site's, with every date on them written the site's way."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

from lxml import html as lxml_html

from publisher.config import Config
from publisher.site.build import build_site
from tests.feeds.helpers import private_site, write_issue

NOW = datetime(2026, 1, 1, tzinfo=UTC)
CHINESE_DATE = re.compile(r"\d{4}年\d{1,2}月\d{1,2}日")


def english_issue_on_a_chinese_site(seed_config: Config, tmp_path: Path) -> Path:
    config = private_site(seed_config, tmp_path)
    write_issue(config.issues_dir, "in-english", 4, tags="[llm]")
    build_site(config, NOW)
    assert config.site.language == "zh-CN"
    return config.output_dir


def test_an_english_issue_on_a_chinese_site_has_an_english_page(
    seed_config: Config, tmp_path: Path
) -> None:
    site = english_issue_on_a_chinese_site(seed_config, tmp_path)
    doc = lxml_html.fromstring((site / "issues/in-english/index.html").read_bytes())
    assert doc.get("lang") == "en"
    texts = {" ".join(e.text_content().split()) for e in doc.iter("a", "button", "h2", "time")}
    assert {"Skip to content", "Subscribe", "Get it by email", "← All issues",
            "May 4, 2024"} <= texts
    assert not re.search(r"[\u4e00-\u9fff]", doc.find(".//footer").text_content())


def test_the_index_and_tag_pages_write_every_date_in_the_sites_language(
    seed_config: Config, tmp_path: Path
) -> None:
    site = english_issue_on_a_chinese_site(seed_config, tmp_path)
    for name in ("index.html", "tags/llm/index.html"):
        doc = lxml_html.fromstring((site / name).read_bytes())
        assert doc.get("lang") == "zh-CN"
        dates = [time.text or "" for time in doc.iter("time")]
        assert len(dates) == 2 and all(CHINESE_DATE.fullmatch(d) for d in dates), dates
        english = [h for h in doc.iter("h3") if h.get("lang") == "en"]
        assert [h.text_content() for h in english] == ["Issue in-english"]
