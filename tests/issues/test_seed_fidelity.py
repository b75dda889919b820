"""The June 2024 edition is the seed text, faithfully: every title, URL, section, paragraph."""

from __future__ import annotations

import html
import re

import pytest

from publisher.config import Config
from publisher.content.issues import read_issue
from publisher.mail.render import render_email
from tests.conftest import SEED_ISSUE
from tests.issues.seed import SECTIONS, seed_lines, seed_titles, seed_urls


def test_seed_has_the_papers_and_links_the_issue_talks_about() -> None:
    assert len(seed_titles()) == 29
    assert len(seed_urls()) == 29  # 28 papers link; C4 has none; plus the source page
    assert "https://arxiv.org/pdf/2406.06563" in seed_urls()


@pytest.fixture
def outputs(seed_config: Config) -> dict[str, str]:
    rendered = render_email(read_issue(SEED_ISSUE), seed_config)
    return {
        "issue file": SEED_ISSUE.read_text(encoding="utf-8"),
        "email HTML": html.unescape(rendered.html),
        "email text": rendered.text,
    }


@pytest.mark.parametrize("where", ["issue file", "email HTML", "email text"])
def test_every_seed_title_and_url_appears(outputs: dict[str, str], where: str) -> None:
    text = outputs[where]
    missing = [t for t in seed_titles() + seed_urls() if t not in text]
    assert not missing, f"missing from the {where}: {missing}"


@pytest.mark.parametrize("where", ["issue file", "email HTML", "email text"])
def test_every_section_heading_appears(outputs: dict[str, str], where: str) -> None:
    assert [s for s in SECTIONS if s not in outputs[where]] == []


def test_every_summary_paragraph_is_kept_word_for_word() -> None:
    issue_text = SEED_ISSUE.read_text(encoding="utf-8").replace("\\*", "*")
    body_lines = {line.strip() for line in issue_text.splitlines()}
    paragraphs = [line for line in seed_lines()[:-3] if line and not line.startswith("http")]
    missing = []
    for paragraph in paragraphs:
        as_list_item = re.sub(r"^(\d+)、", r"\1. ", paragraph)
        candidates = {paragraph, as_list_item, "## " + paragraph, f"### {paragraph}",
                      "### " + re.sub(r"^(\d+)、\s+", r"\1、", paragraph)}
        if not candidates & body_lines:
            missing.append(paragraph)
    assert missing == []


def test_attribution_is_kept_and_page_debris_dropped() -> None:
    issue = read_issue(SEED_ISSUE)
    assert issue.meta.authors == ["Youssef Hosni"]
    assert issue.meta.source == "https://avoid.overfit.cn/post/ee1689e382f54777b72dbb4a4610a64a"
    assert issue.language == "zh-CN"
    assert "文章评论" in seed_lines()[-1]
    assert "文章评论" not in SEED_ISSUE.read_text(encoding="utf-8")


def test_the_paper_without_a_link_stays_without_one() -> None:
    text = SEED_ISSUE.read_text(encoding="utf-8")
    c4 = text.split("### 7、Boosting Large-scale Parallel Training")[1].split("## LLM量化与对齐")[0]
    assert "http" not in c4


@pytest.mark.parametrize("where", ["email HTML", "email text"])
def test_attribution_reaches_the_reader(outputs: dict[str, str], where: str) -> None:
    assert "Youssef Hosni" in outputs[where]
    assert "https://avoid.overfit.cn/post/ee1689e382f54777b72dbb4a4610a64a" in outputs[where]
