"""`publisher check` and `publisher automations list` on step files: the example folder
passes, every broken file in tests/data/automations fails with its located message."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from publisher.content.automations import parse_delay
from tests.cli import invoke_publisher
from tests.conftest import DATA, REPO, SITE

BROKEN = DATA / "automations"


def expected_errors() -> dict[str, list[str]]:
    table: dict[str, list[str]] = {}
    for line in (BROKEN / "expected_errors.txt").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            target, message = (part.strip() for part in line.split(" | ", 1))
            table.setdefault(target, []).append(message)
    return table


def config_with_steps(tmp_path: Path, folder: Path) -> Path:
    text = (SITE / "publisher.toml").read_text(encoding="utf-8")
    text = text.replace('issues = "issues"', f'issues = "{SITE / "issues"}"\n'
                                            f'automations = "{folder}"')
    text = text.replace('templates = "templates"', f'templates = "{REPO / "templates"}"')
    path = tmp_path / "publisher.toml"
    path.write_text(text, encoding="utf-8")
    return path


def run(config: Path, *args: str) -> tuple[int, str]:
    result = invoke_publisher(*args, config=config)
    return result.exit_code, result.output


@pytest.mark.parametrize("target", sorted(expected_errors()))
def test_check_rejects_each_broken_step_with_its_located_message(
    target: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(BROKEN)
    code, output = run(config_with_steps(tmp_path, BROKEN), "check", target)
    assert code != 0
    for message in expected_errors()[target]:
        assert message in output, output


def test_every_broken_step_has_an_expected_message() -> None:
    present = {p.name for p in BROKEN.iterdir() if p.name != "expected_errors.txt"}
    assert present == set(expected_errors())


def test_the_example_folder_passes_check_and_lists_the_welcome_first(tmp_path: Path) -> None:
    config = config_with_steps(tmp_path, SITE / "automations")
    code, output = run(config, "check")
    assert code == 0, output
    assert "automations/welcome.md" in output and "automations/day-3.md" in output
    code, output = run(config, "automations", "list")
    assert code == 0, output
    lines = output.splitlines()
    assert lines[1].split()[:2] == ["welcome", "0"] and "latest-issue" in lines[1]
    assert lines[2].split()[:2] == ["day-3", "3d"]


@pytest.mark.parametrize(("written", "delay"), [
    (0, timedelta(0)), ("0", timedelta(0)), ("30m", timedelta(minutes=30)),
    ("12h", timedelta(hours=12)), ("3d", timedelta(days=3)), ("2w", timedelta(weeks=2))])
def test_delays_are_written_as_a_number_and_a_unit(written: object, delay: timedelta) -> None:
    assert parse_delay(written) == delay


@pytest.mark.parametrize("written", ["3", "3 d", "-1d", "1.5h", "3D", "", True, 7])
def test_anything_else_is_not_a_delay(written: object) -> None:
    with pytest.raises(ValueError, match="is not a delay"):
        parse_delay(written)
