"""A draft's problems are warnings and the rest of the site is built; an over-size email
names its file and its largest sections."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.config import Config
from publisher.errors import IssueFileError
from publisher.site.build import build_site, preview_dir
from tests.feeds.helpers import private_site, write_issue

NOW = datetime(2026, 1, 1, tzinfo=UTC)
LIMIT = 20_000


def small_site(seed_config: Config, tmp_path: Path) -> Config:
    """Two short published issues, an email limit of LIMIT bytes, rooted in tmp_path."""
    config = replace(private_site(seed_config, tmp_path), root=tmp_path)
    (config.issues_dir / "2024-06-first-half.md").unlink()  # the seed is over LIMIT
    write_issue(config.issues_dir, "first", 1)
    write_issue(config.issues_dir, "second", 2)
    email = config.settings.email.model_copy(update={"max_html_bytes": LIMIT})
    return replace(config, settings=config.settings.model_copy(update={"email": email}))


def with_sections(path: Path, sizes: dict[str, int]) -> Path:
    """Append `## name` sections of about `size` characters each."""
    sections = "".join(f"\n## {name}\n\n{'Words of text. ' * (size // 15)}\n"
                       for name, size in sizes.items())
    path.write_text(path.read_text(encoding="utf-8") + sections, encoding="utf-8")
    return path


def fix_title(config: Config) -> None:
    path = config.issues_dir / "second.md"
    path.write_text(path.read_text().replace("Issue second", "Issue two, fixed"))


def test_a_draft_with_an_empty_section_is_a_warning_and_the_fix_goes_out(
    seed_config: Config, tmp_path: Path
) -> None:
    config = small_site(seed_config, tmp_path)
    draft = write_issue(config.issues_dir, "half-done", 3, extra="draft: true\n")
    draft.write_text(draft.read_text() + "\n## Still to write\n\n## Also empty\n")
    fix_title(config)
    report = build_site(config, NOW)
    lines = draft.read_text().splitlines()
    first, second = (lines.index(f"## {name}") + 1 for name in ("Still to write", "Also empty"))
    assert [str(w) for w in report.warnings] == [
        f"{draft}:{first}: body: section 'Still to write' is empty",
        f"{draft}:{second}: body: section 'Also empty' is empty"]
    page = (config.output_dir / "issues" / "second" / "index.html").read_text()
    assert "Issue two, fixed" in page
    assert "half-done" not in report.rendered
    assert not (preview_dir(config) / "issues" / "half-done").exists()


def test_a_draft_over_the_size_limit_or_with_a_broken_front_matter_does_not_block(
    seed_config: Config, tmp_path: Path
) -> None:
    config = small_site(seed_config, tmp_path)
    big = write_issue(config.issues_dir, "big-draft", 3, extra="draft: true\n")
    with_sections(big, {"Long": 30_000})
    broken = config.issues_dir / "untitled.md"
    broken.write_text("---\ndraft: true\ndate: 2024-05-04\n---\n\nNotes.\n", encoding="utf-8")
    fix_title(config)
    report = build_site(config, NOW)
    assert {Path(w.path).name for w in report.warnings} == {"big-draft.md", "untitled.md"}
    assert "Issue two, fixed" in (config.output_dir / "feed.atom").read_text()


def test_a_problem_in_a_published_issue_still_fails_the_build(
    seed_config: Config, tmp_path: Path
) -> None:
    config = small_site(seed_config, tmp_path)
    path = config.issues_dir / "second.md"
    path.write_text(path.read_text() + "\n## Empty\n")
    with pytest.raises(IssueFileError, match=r"second\.md:\d+: body: section 'Empty' is empty"):
        build_site(config, NOW)
    assert not config.output_dir.exists()


def test_an_oversize_email_names_the_file_and_its_largest_sections_with_their_sizes(
    seed_config: Config, tmp_path: Path
) -> None:
    config = small_site(seed_config, tmp_path)
    path = with_sections(config.issues_dir / "second.md",
                         {"Small": 600, "Largest": 9_000, "Middle": 4_000, "Larger": 6_000})
    with pytest.raises(IssueFileError) as caught:
        build_site(config, NOW)
    message = str(caught.value.message)
    heading_line = path.read_text().splitlines().index("## Largest") + 1
    assert message.startswith(f"{path}:{heading_line}: body: email HTML is ")
    assert f"over the {LIMIT}-byte limit" in message
    named = re.findall(r'"(\w+)" \(line (\d+)\) ([\d,]+) bytes', message)
    assert [name for name, _, _ in named] == ["Largest", "Larger", "Middle"]
    sizes = [int(size.replace(",", "")) for _, _, size in named]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] > 9_000
