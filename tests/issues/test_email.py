"""The seed edition's email: snapshots, size, structure, placeholders, plain text."""

from __future__ import annotations

import re

import pytest
from syrupy.assertion import SnapshotAssertion
from syrupy.extensions.single_file import SingleFileSnapshotExtension, WriteMode

from publisher.config import Config
from publisher.content.issues import read_issue
from publisher.content.plaintext import display_width
from publisher.mail.render import Recipient, personalise, render_email
from publisher.mail.rendered import EMAIL, PLACEHOLDERS, UNSUBSCRIBE_URL, RenderedEmail
from tests.conftest import SEED_ISSUE


class TextSnapshot(SingleFileSnapshotExtension):
    _write_mode = WriteMode.TEXT


class HtmlSnapshot(TextSnapshot):
    file_extension = "html"


class TxtSnapshot(TextSnapshot):
    file_extension = "txt"


@pytest.fixture
def email(seed_config: Config) -> RenderedEmail:
    return render_email(read_issue(SEED_ISSUE), seed_config)


def test_email_html_matches_the_reviewed_snapshot(
    email: RenderedEmail, snapshot: SnapshotAssertion
) -> None:
    assert email.html == snapshot(extension_class=HtmlSnapshot)


def test_email_text_matches_the_reviewed_snapshot(
    email: RenderedEmail, snapshot: SnapshotAssertion
) -> None:
    assert email.text == snapshot(extension_class=TxtSnapshot)


def test_email_html_stays_under_gmails_clipping_limit(email: RenderedEmail) -> None:
    assert email.html_bytes < 102_000


def test_oversized_email_is_an_error_naming_the_file(seed_config: Config) -> None:
    small = seed_config.settings.model_copy(update={
        "email": seed_config.settings.email.model_copy(update={"max_html_bytes": 20_000})})
    config = type(seed_config)(settings=small, root=seed_config.root)
    with pytest.raises(Exception, match=r"2024-06-first-half\.md: body: email HTML is \d+ bytes"):
        render_email(read_issue(SEED_ISSUE), config)


def test_email_has_preheader_color_scheme_and_footer(
    email: RenderedEmail, seed_config: Config
) -> None:
    html = email.html
    assert '<html lang="zh-CN"' in html
    assert '<meta name="color-scheme" content="light dark">' in html
    assert "prefers-color-scheme: dark" in html
    preheader = re.search(r'<div style="display:none;[^"]*">([^<]*)', html)
    assert preheader and "2024年6月上半月" in preheader.group(1)
    assert "在浏览器中查看" in html and "/issues/2024-06-first-half/" in html
    assert seed_config.site.contact_line in html
    assert f'href="{UNSUBSCRIBE_URL}"' in html
    assert "PingFang SC" in html


def test_personalise_fills_every_placeholder_and_escapes_html(email: RenderedEmail) -> None:
    recipient = Recipient(email="a&b@example.org", name='<script>"x"</script>',
                          unsubscribe_url="https://d.example/unsubscribe/t?a=1&b=2",
                          preferences_url="https://d.example/preferences/t")
    html, text = personalise(email, recipient)
    assert not any(p in html or p in text for p in PLACEHOLDERS)
    assert "a&amp;b@example.org" in html and "a&b@example.org" in text
    assert "https://d.example/unsubscribe/t?a=1&amp;b=2" in html
    assert "https://d.example/unsubscribe/t?a=1&b=2" in text
    assert EMAIL in email.text  # the rendered email itself is untouched


def test_plain_text_wraps_at_76_columns_except_unbreakable_urls(email: RenderedEmail) -> None:
    for line in email.text.splitlines():
        if display_width(line) > 78:
            assert re.search(r"https?://\S+$", line) or line.startswith(("###", "1")) or (
                "、" in line[:4]), line


def test_plain_text_never_starts_a_line_with_closing_punctuation(email: RenderedEmail) -> None:
    for line in email.text.splitlines():
        assert not line.startswith(("，", "。", "、", "：", "；", "！", "？", "）", ",")), line


def test_plain_text_is_built_from_markdown_not_html(email: RenderedEmail) -> None:
    assert "<" not in email.text.replace("<https", "")
    assert "LLM进展与基准测试\n" + "-" * display_width("LLM进展与基准测试") in email.text
    assert "- 从睡眠模式、身体活动和生理反应中生成个性化见解和建议。" in email.text
    assert "1. 硬件故障不可避免" in email.text
