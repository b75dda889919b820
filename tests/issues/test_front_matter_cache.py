"""Front matter read with the build's cache is exactly what a fresh parse gives, and the cache
keeps nothing it could give back differently (dates YAML typed itself, duplicate keys)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from publisher.content.front_matter_cache import FrontMatterCache
from publisher.content.issues import parse_issue_text, read_issue, read_issues
from publisher.errors import IssueFileError
from tests.conftest import SEED_ISSUE, SITE


def test_issues_read_through_a_saved_cache_equal_a_fresh_read(tmp_path: Path) -> None:
    first = FrontMatterCache()
    fresh, problems, _ = read_issues([SITE / "issues"], first)
    assert not problems
    saved = tmp_path / "front-matter.json"
    saved.write_text(first.dump({issue.path for issue in fresh}), encoding="utf-8")
    again = FrontMatterCache.load(saved)
    cached, _, _ = read_issues([SITE / "issues"], again)
    assert cached == fresh
    assert [issue.key_lines for issue in cached] == [issue.key_lines for issue in fresh]
    assert set(again.by_path) == {issue.path for issue in fresh}


def test_a_cache_is_keyed_by_the_text_so_an_edit_is_parsed_again(tmp_path: Path) -> None:
    cache = FrontMatterCache()
    path = tmp_path / "issue.md"
    text = SEED_ISSUE.read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    read_issue(path, cache)
    path.write_text(text.replace("title:", "title: Edited", 1), encoding="utf-8")
    assert read_issue(path, cache) == read_issue(path)
    assert read_issue(path, cache).title.startswith("Edited")


def test_what_json_cannot_hold_and_duplicate_keys_are_never_kept() -> None:
    cache = FrontMatterCache()
    typed = ("---\ntitle: T\ndate: !!timestamp 2024-06-01T08:00:00+00:00\n---\n\nBody\n")
    assert parse_issue_text(typed, Path("typed.md"), cache).meta.date.year == 2024
    duplicate = "---\ntitle: T\ntitle: U\ndate: 2024-06-01T08:00:00+00:00\n---\n\nBody\n"
    for _ in range(2):  # the second read reports it as the first did
        with pytest.raises(IssueFileError, match="duplicate key"):
            parse_issue_text(duplicate, Path("duplicate.md"), cache)
    assert cache.entries == {}
    assert json.loads(cache.dump({Path("typed.md"), Path("duplicate.md")})) == {}
