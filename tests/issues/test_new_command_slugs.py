"""`publisher new` names files after what the title says, and never over an existing one."""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result

from publisher.content.issues import read_issue
from tests.cli import invoke_publisher
from tests.conftest import REPO, SITE

DATED = r"\d{4}-\d{2}-\d{2}-"


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    """An empty project (the repo's configuration and templates) as the working directory."""
    text = (SITE / "publisher.toml").read_text(encoding="utf-8")
    (tmp_path / "publisher.toml").write_text(
        text.replace('base_url = "http://127.0.0.1:8000"',
                     'base_url = "https://digest.example.org"'), encoding="utf-8")
    shutil.copytree(REPO / "templates", tmp_path / "templates")
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        yield tmp_path
    finally:
        os.chdir(old)


def new(*args: str) -> Result:
    return invoke_publisher("new", *args)


def created(result: Result) -> Path:
    assert result.exit_code == 0, result.output
    return Path(result.stdout.strip())


def test_chinese_titles_get_pinyin_slugs_and_two_on_one_day_both_succeed(project: Path) -> None:
    first = created(new("大语言模型周报"))
    second = created(new("大模型论文精选"))
    assert re.fullmatch(DATED + "da-yu-yan-mo-xing-zhou-bao.md", first.name)
    assert re.fullmatch(DATED + "da-mo-xing-lun-wen-jing-xuan.md", second.name)
    ids = {read_issue(path).meta.id for path in (first, second)}
    assert len(ids) == 2
    checked = invoke_publisher("check", "issues/")
    assert checked.exit_code == 0, checked.output


def test_a_title_used_twice_on_one_day_gets_a_numbered_file_and_says_so(project: Path) -> None:
    first = created(new("大语言模型周报"))
    again = new("大语言模型周报")
    second = created(again)
    assert second.name == first.name.replace(".md", "-2.md")
    assert first.read_text(encoding="utf-8") != second.read_text(encoding="utf-8")
    assert read_issue(first).meta.id != read_issue(second).meta.id
    assert f"{first}: already exists; numbered this one {second.stem}" in again.stderr
    third = created(new("大语言模型周报"))
    assert third.name == first.name.replace(".md", "-3.md")


def test_an_issue_holding_the_id_a_new_file_would_get_pushes_it_to_the_next_number(
    project: Path
) -> None:
    first = created(new("Weekly"))
    renamed = first.with_name("renamed-later.md")
    first.rename(renamed)  # the id is permanent: it still names the old file stem
    second = created(new("Weekly"))
    assert second.name == first.name.replace(".md", "-2.md")
    assert read_issue(renamed).meta.id != read_issue(second).meta.id


def test_an_explicit_slug_that_is_taken_is_refused(project: Path) -> None:
    created(new("First", "--slug", "weekly"))
    refused = new("Second", "--slug", "weekly")
    assert refused.exit_code != 0
    assert "issues/weekly.md: already exists" in refused.output
