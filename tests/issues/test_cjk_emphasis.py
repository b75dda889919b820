"""Chinese bold renders in every output (CJK-friendly flanking), English stays CommonMark,
and `check` warns about asterisks that emphasis left in the text."""

from __future__ import annotations

from pathlib import Path

from publisher.config import Config
from publisher.content.cjk_emphasis import flanking, is_cjk
from publisher.content.issues import read_issue
from publisher.content.markup import to_html
from publisher.content.plaintext import to_text
from publisher.mail.render import render_email
from tests.cli import invoke_publisher
from tests.conftest import DATA, REPO, SITE

EMPHASIS = DATA / "emphasis"


def test_chinese_bold_beside_full_width_punctuation_is_bold_in_the_email_and_text() -> None:
    issue = read_issue(EMPHASIS / "cjk_bold.md")
    html = to_html(issue.body)
    assert "<strong>智能体（agents）</strong>和" in html
    assert "<strong>粗体。</strong>这一句" in html
    assert "「<strong>引号</strong>」" in html
    assert "**" not in html
    assert "**" not in to_text(issue.body)


def test_the_rendered_email_of_a_chinese_issue_has_no_literal_asterisks(
        seed_config: Config) -> None:
    rendered = render_email(read_issue(EMPHASIS / "cjk_bold.md"), seed_config)
    assert "**" not in rendered.html and "**" not in rendered.text
    assert "智能体（agents）</strong>" in rendered.html


def test_text_without_cjk_parses_as_commonmark() -> None:
    assert to_html("a **bold** word").strip() == "<p>a <strong>bold</strong> word</p>"
    assert to_html("**Hello.**World").strip() == "<p>**Hello.**World</p>"  # spec example
    assert to_html("5 * 3 * 2").strip() == "<p>5 * 3 * 2</p>"
    assert to_html("snake_case_name").strip() == "<p>snake_case_name</p>"


def test_flanking_counts_cjk_characters_and_punctuation_as_boundaries() -> None:
    assert is_cjk("和") and is_cjk("）") and is_cjk("가") and not is_cjk("a")
    assert not is_cjk("😀")
    assert flanking("）", "和") == (True, True)  # closes after full-width punctuation
    assert flanking(".", "W") == (True, False)  # CommonMark: cannot close here


def _check(tmp_path: Path, target: Path) -> tuple[int, str, str]:
    config = tmp_path / "publisher.toml"
    text = (SITE / "publisher.toml").read_text(encoding="utf-8")
    config.write_text(text.replace('templates = "templates"',
                                   f'templates = "{REPO / "templates"}"'), encoding="utf-8")
    result = invoke_publisher("check", str(target), config=config)
    return result.exit_code, result.stdout, result.stderr


def test_check_warns_about_literal_asterisks_with_their_line_and_still_passes(
        tmp_path: Path) -> None:
    code, out, err = _check(tmp_path, EMPHASIS / "literal_asterisks.md")
    assert code == 0, out + err
    assert out.startswith("ok ") and out.count("\n") == 1
    warnings = err.strip().splitlines()
    assert len(warnings) == 1, err
    assert warnings[0].startswith(f"warning: {EMPHASIS / 'literal_asterisks.md'}:10: body: ")
    assert "literal asterisks" in warnings[0]


def test_check_is_quiet_about_chinese_bold(tmp_path: Path) -> None:
    code, out, err = _check(tmp_path, EMPHASIS / "cjk_bold.md")
    assert code == 0 and err == "", out + err


