"""`publisher check` on the seed edition and on every broken file in tests/data/issues."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

import pytest
from click.testing import CliRunner

from publisher.cli import main
from tests.cli import invoke_publisher
from tests.conftest import DATA, SITE

BROKEN = DATA / "issues"


def expected_errors() -> dict[str, list[str]]:
    table: dict[str, list[str]] = defaultdict(list)
    for line in (BROKEN / "expected_errors.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            target, message = (part.strip() for part in line.split(" | ", 1))
            table[target].append(message)
    return dict(table)


def run_check(*args: str, cwd: Path) -> tuple[int, str]:
    old = Path.cwd()
    os.chdir(cwd)
    try:
        config = ["--config", str(SITE / "publisher.toml")]
        result = invoke_publisher(*config, "check", *args)
    finally:
        os.chdir(old)
    return result.exit_code, result.output


def test_check_accepts_the_seed_edition() -> None:
    code, output = run_check("issues/", cwd=SITE)
    assert code == 0, output
    assert "2024-06-first-half.md" in output


@pytest.mark.parametrize("target", sorted(expected_errors()))
def test_check_rejects_each_broken_file_with_its_located_message(target: str) -> None:
    code, output = run_check(target, cwd=BROKEN)
    assert code != 0
    for message in expected_errors()[target]:
        assert message in output, output


def test_every_broken_file_has_an_expected_message() -> None:
    listed = set(expected_errors())
    present = {p.name for p in BROKEN.iterdir() if p.name != "expected_errors.txt"}
    assert present == listed


def test_check_reports_problems_of_several_files_at_once() -> None:
    code, output = run_check("missing_title.md", "unknown_key.md", cwd=BROKEN)
    assert code != 0
    assert "missing_title.md:1: title:" in output
    assert "unknown_key.md:4: subtitle:" in output


def test_check_names_a_missing_path() -> None:
    code, output = run_check("no-such-issue.md", cwd=BROKEN)
    assert code != 0
    assert "no-such-issue.md: no such file or directory" in output


def test_a_missing_issues_folder_says_paths_are_relative_to_the_config_file(
        tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "publisher.toml").write_text(
        (SITE / "publisher.toml").read_text(encoding="utf-8"), encoding="utf-8")
    for verb in ("check", "build"):
        old = Path.cwd()
        os.chdir(tmp_path)
        try:
            result = CliRunner().invoke(main, ["--config", "conf/publisher.toml", verb])
        finally:
            os.chdir(old)
        assert result.exit_code == 1
        assert (f"{tmp_path / 'conf' / 'issues'}: no such folder (paths.issues = \"issues\" in "
                f"conf/publisher.toml; paths are relative to the config file's folder, "
                f"{tmp_path / 'conf'})") in result.output
