"""Translations as sibling files: read with their original (never as issues of their own),
and `publisher check`'s diagnostics on them: a missing original, sections or links that
diverge from the original's (at the first difference), and a translation older than its
original's last body edit (by git commits in a work tree, else by file times)."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from publisher.content.issues import read_issues
from publisher.errors import SendError
from publisher.sending.send_issue import due_and_missed, resolve_issue_path
from tests.cli import invoke_publisher
from tests.conftest import DATA, SEED_ISSUE, SITE

TRANSLATION = DATA / "translations" / "2024-06-first-half.en.md"
ORIGINAL_NAME = SEED_ISSUE.name


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A copy of the seed site publishing in zh-CN and en, with the English translation."""
    config = (SITE / "publisher.toml").read_text(encoding="utf-8")
    config = config.replace('language = "zh-CN"\n',
                            'language = "zh-CN"\nlanguages = ["zh-CN", "en"]\n')
    (tmp_path / "publisher.toml").write_text(config, encoding="utf-8")
    (tmp_path / "issues").mkdir()
    shutil.copy(SEED_ISSUE, tmp_path / "issues")
    shutil.copy(TRANSLATION, tmp_path / "issues")
    return tmp_path


def check(site: Path, *targets: str) -> tuple[int, str]:
    result = invoke_publisher("check", *(targets or (str(site / "issues"),)),
                              config=site / "publisher.toml")
    return result.exit_code, result.output


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def line_of(path: Path, text: str) -> int:
    lines = path.read_text(encoding="utf-8").splitlines()
    return next(number for number, line in enumerate(lines, start=1) if text in line)


def test_the_seed_translation_passes_every_check_beside_its_original(site: Path) -> None:
    code, output = check(site)
    assert code == 0, output
    assert f"ok {site / 'issues' / TRANSLATION.name}" in output
    assert "warning" not in output


def test_a_translation_is_read_with_its_original_never_as_an_issue(site: Path) -> None:
    issues, problems, failed = read_issues([site / "issues"])
    assert not problems and not failed
    (issue,) = issues
    english = issue.translations["en"]
    assert (english.slug, english.meta.id, english.meta.send_at) == (
        issue.slug, issue.meta.id, issue.meta.send_at)
    assert english.title == "Important LLM Papers of the First Half of June 2024"
    assert english.translation_of == issue.path
    assert english.entry_id("digest.example.org") == f"{issue.meta.id}#en"
    assert issue.meta.send_at is not None
    now = issue.meta.send_at + timedelta(minutes=5)
    assert due_and_missed(issues, set(), now, timedelta(hours=1)) == ([issue], [])


def test_send_refuses_a_translation_and_names_the_original(site: Path) -> None:
    from publisher.config import load_config

    config = load_config(site)
    with pytest.raises(SendError, match=f"translation of {ORIGINAL_NAME}"):
        resolve_issue_path(config, "2024-06-first-half.en")


def test_a_translation_whose_original_is_missing_is_an_error(site: Path) -> None:
    (site / "issues" / ORIGINAL_NAME).unlink()
    code, output = check(site)
    assert code != 0
    assert (f"{TRANSLATION.name}:1: a translation of {ORIGINAL_NAME}, which does not exist"
            in output)


def test_a_translation_missing_a_section_is_an_error_at_its_first_divergence(
        site: Path) -> None:
    translation = site / "issues" / TRANSLATION.name
    edit(translation, "### 3. Tx-LLM: A Large Language Model for Therapeutics\n\n", "")
    code, output = check(site)
    assert code != 0
    # The dropped heading's text and link now end section 2, which differs first.
    line = line_of(translation, "### 2. NATURAL PLAN")
    original_line = line_of(site / "issues" / ORIGINAL_NAME, "### 2、NATURAL PLAN")
    assert (f"{TRANSLATION.name}:{line}: body: 34 sections here, 35 in the original "
            f"({ORIGINAL_NAME}); the first difference is here (original: line {original_line})"
            in output), output


def test_a_translation_missing_a_link_is_an_error_at_the_section_that_lost_it(
        site: Path) -> None:
    translation = site / "issues" / TRANSLATION.name
    edit(translation, "<https://arxiv.org/abs/2406.08487>\n", "")
    code, output = check(site)
    assert code != 0
    line = line_of(translation, "### 12. Beyond LLaVA-HD")
    assert (f"{TRANSLATION.name}:{line}: body: 27 links here, 28 in the original" in output), \
        output


def test_a_translation_into_a_language_the_site_does_not_list_is_an_error(site: Path) -> None:
    shutil.copy(TRANSLATION, site / "issues" / "2024-06-first-half.fr.md")
    code, output = check(site)
    assert code != 0
    assert "2024-06-first-half.fr.md:1: 'fr' (from the file name) is not in [site] languages" \
        in output


def test_a_translation_may_not_restate_what_comes_from_the_original(site: Path) -> None:
    edit(site / "issues" / TRANSLATION.name, "---\ntitle:", "---\ntags: [llm]\ntitle:")
    code, output = check(site)
    assert code != 0
    assert f"{TRANSLATION.name}:2: tags: comes from the original ({ORIGINAL_NAME})" in output


def test_a_translation_older_than_its_original_is_a_warning_naming_both_files(
        site: Path) -> None:
    original, translation = site / "issues" / ORIGINAL_NAME, site / "issues" / TRANSLATION.name
    day = datetime(2024, 6, 20, tzinfo=UTC).timestamp()
    os.utime(translation, (day, day))
    os.utime(original, (day + 3600, day + 3600))
    code, output = check(site)
    assert code == 0, output
    assert (f"warning: {translation}:1: older than its original: {original} changed its body "
            "on 2024-06-20T01:00:00+00:00, after" in output), output
    assert "by file times" in output


def git(site: Path, *args: str, when: str) -> None:
    stamp = f"{when} +0000"
    env = {**os.environ, "GIT_AUTHOR_DATE": stamp, "GIT_COMMITTER_DATE": stamp}
    subprocess.run(["git", "-c", "user.name=Editor", "-c", "user.email=e@example.org",
                    "-C", str(site), *args], check=True, capture_output=True, env=env)


def test_in_git_only_a_later_commit_to_the_originals_body_makes_a_translation_old(
        site: Path) -> None:
    original = site / "issues" / ORIGINAL_NAME
    git(site, "init", "-q", when="2024-06-20T00:00:00")
    git(site, "add", ".", when="2024-06-20T00:00:00")
    git(site, "commit", "-qm", "issue and translation", when="2024-06-20T00:00:00")
    edit(original, "send_at: 2024-06-16T09:00:00+08:00", "send_at: 2024-06-17T09:00:00+08:00")
    git(site, "commit", "-qam", "send a day later", when="2024-06-21T00:00:00")
    code, output = check(site)
    assert code == 0 and "warning" not in output, output
    edit(original, "可以让你及时了解最新进展。\n\n## LLM", "可以让你及时了解最新进展!\n\n## LLM")
    git(site, "commit", "-qam", "body edit", when="2024-06-22T00:00:00")
    code, output = check(site)
    assert code == 0, output
    assert ("changed its body on 2024-06-22T00:00:00+00:00, after" in output
            and "by git commits" in output), output


def test_preview_of_a_translation_is_the_email_in_its_language(site: Path) -> None:
    result = invoke_publisher("preview", str(site / "issues" / TRANSLATION.name),
                              config=site / "publisher.toml")
    assert result.exit_code == 0, result.output
    text = (site / "var" / "preview" / "issues" / "2024-06-first-half" / "email.txt")
    assert "Important LLM Papers of the First Half of June 2024" in text.read_text(
        encoding="utf-8")
