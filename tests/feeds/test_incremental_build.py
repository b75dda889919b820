"""A rebuild costs what changed and leaves what a fresh build leaves: after each kind of
change (an edit, a deletion, a rename, a tag, the settings, a template, a new translation,
nothing at all) the published tree equals, byte for byte, a fresh build of the same sources
into an empty folder. The fresh build is given the incremental one's record of when each
issue's words changed (.cache/manifest.json): that history is an input of every build (an
entry's `updated`), not a cache."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest
from click.testing import CliRunner

from publisher.cli import main
from publisher.config import Config, PathsConfig
from publisher.errors import IssueFileError
from publisher.site.build import BuildReport, build_site
from tests.conftest import REPO, SITE
from tests.feeds.helpers import private_site, write_issue
from tests.feeds.test_public_is_exactly_the_site import folders, tree
from tests.feeds.test_translated_site import BUILT_ON, TRANSLATION, bilingual_config

NOW = datetime(2026, 1, 1, tzinfo=UTC)
Change = Callable[[Config], Config]


def a_site(seed_config: Config, tmp_path: Path) -> Config:
    """The seed issue and nine more, two to a feed document, with templates of its own (none
    yet: every template is publisher's)."""
    config = replace(private_site(seed_config, tmp_path, page_size=2), root=tmp_path)
    (tmp_path / "templates").mkdir()
    config = with_paths(config, templates=str(tmp_path / "templates"))
    for day in range(1, 10):
        tags = '["machine learning", weekly]' if day % 3 else "[大模型, Weekly]"
        write_issue(config.issues_dir, f"may-{day:02d}", day, tags=tags)
    return config


def with_paths(config: Config, **paths: str) -> Config:
    current = config.settings.paths.model_dump()
    settings = config.settings.model_copy(update={"paths": PathsConfig(**{**current, **paths})})
    return replace(config, settings=settings)


def assert_equals_a_fresh_build(config: Config, tmp_path: Path, now: datetime = NOW) -> None:
    fresh = with_paths(config, output=str(tmp_path / "fresh"))
    (fresh.output_dir / ".cache").mkdir(parents=True)
    shutil.copy(config.output_dir / ".cache" / "manifest.json", fresh.output_dir / ".cache")
    build_site(fresh, now)
    assert tree(config.output_dir) == tree(fresh.output_dir)
    assert folders(config.output_dir) == folders(fresh.output_dir)


def rewrite(path: Path, old: str, new: str) -> None:
    path.write_text(path.read_text(encoding="utf-8").replace(old, new), encoding="utf-8")


def edit_body(config: Config) -> Config:
    rewrite(config.issues_dir / "may-05.md", "Body of", "The body of")
    return config


def delete(config: Config) -> Config:
    (config.issues_dir / "may-04.md").unlink()
    return config


def rename(config: Config) -> Config:
    (config.issues_dir / "may-07.md").rename(config.issues_dir / "may-seven.md")
    return config


def change_tags(config: Config) -> Config:
    rewrite(config.issues_dir / "may-03.md", "[大模型, Weekly]", "[papers]")
    return config


def add_issue(config: Config) -> Config:
    write_issue(config.issues_dir, "may-20", 20, tags="[weekly, new]")
    return config


def change_settings(config: Config) -> Config:
    site = config.site.model_copy(update={"title": "Another title"})
    return replace(config, settings=config.settings.model_copy(update={"site": site}))


def change_template(config: Config) -> Config:
    base = REPO / "templates" / "archive" / "base.html.j2"
    mine = config.templates_dir / "archive" / "base.html.j2"
    mine.parent.mkdir(parents=True, exist_ok=True)
    mine.write_text(base.read_text(encoding="utf-8").replace(
        "</body>", "<!-- our own -->\n</body>"), encoding="utf-8")
    return config


def nothing(config: Config) -> Config:
    return config


@pytest.mark.parametrize("change", [edit_body, delete, rename, change_tags, add_issue,
                                    change_settings, change_template, nothing])
def test_after_a_change_the_rebuild_equals_a_fresh_build(
    change: Change, seed_config: Config, tmp_path: Path
) -> None:
    config = a_site(seed_config, tmp_path)
    build_site(config, NOW)
    build_site(config, NOW)  # the first with a cache folder to keep a stamp in
    changed = change(config)
    report = build_site(changed, NOW)
    assert report.up_to_date == (change is nothing)
    assert_equals_a_fresh_build(changed, tmp_path)


def test_a_rebuild_writes_only_the_pages_and_feeds_that_hold_the_edited_issue(
    seed_config: Config, tmp_path: Path
) -> None:
    config = a_site(seed_config, tmp_path)
    build_site(config, NOW)
    report = build_site(edit_body(config), NOW)
    written = {path.relative_to(config.output_dir).as_posix() for path in report.written}
    assert report.rendered == ["may-05"]
    assert "issues/may-05/index.html" in written
    assert "issues/may-04/index.html" not in written
    assert "index.html" not in written  # a list shows titles and summaries, not bodies
    assert "feed.atom" not in written  # may-05 is in the third archive, which alone changes
    assert {path for path in written if "feed" in path and not path.startswith("tags/")} == {
        "feeds/archive-3.atom", "feeds/archive-3.rss", "feeds/archive-3.json"}


def test_a_new_issue_rewrites_the_subscription_documents_and_a_full_run_one_archive(
    seed_config: Config, tmp_path: Path
) -> None:
    """Archive documents are numbered from the oldest: a new issue never shifts them."""
    config = a_site(seed_config, tmp_path)  # ten issues: archives 1 to 5, two each
    build_site(config, NOW)
    rewrite_date(write_issue(config.issues_dir, "july-01", 1, tags="[fresh]"))
    report = build_site(config, NOW)
    feeds = {name for name in written_names(config, report) if "feed" in name}
    assert feeds == {f"{folder}feed.{kind}" for folder in ("", "tags/fresh/")
                     for kind in ("atom", "rss", "json")}  # eleven: no run is full yet
    rewrite_date(write_issue(config.issues_dir, "july-02", 2, tags="[new]"))
    report = build_site(config, NOW)
    feeds = {name for name in written_names(config, report) if "feed" in name}
    assert feeds == {f"{name}.{kind}" for name in ("feed", "tags/new/feed", "feeds/archive-6")
                     for kind in ("atom", "rss", "json")} | {
        "feeds/archive-5.atom", "feeds/archive-5.rss"}  # its next-archive (JSON has none)
    sixth = feedparser.parse((config.output_dir / "feeds" / "archive-6.atom").read_bytes())
    assert [e.title for e in sixth.entries] == ["Issue july-02", "Issue july-01"]
    assert_equals_a_fresh_build(config, tmp_path)


def written_names(config: Config, report: BuildReport) -> set[str]:
    return {path.relative_to(config.output_dir).as_posix() for path in report.written}


def rewrite_date(path: Path) -> Path:
    """An issue written by `write_issue` moved from May to July (after the seed's June)."""
    rewrite(path, "date: 2024-05-", "date: 2024-07-")
    return path


def test_a_translation_added_rebuilds_as_a_fresh_build(tmp_path: Path) -> None:
    config = bilingual_config(tmp_path, translated=False)
    build_site(config, BUILT_ON)
    shutil.copy(TRANSLATION, config.issues_dir)
    build_site(config, BUILT_ON)
    assert (config.output_dir / "en" / "index.html").exists()
    assert_equals_a_fresh_build(config, tmp_path, BUILT_ON)


def test_nothing_changed_is_seen_without_reading_an_issue(
    seed_config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = a_site(seed_config, tmp_path)
    build_site(config, NOW)
    build_site(config, NOW)

    def no_reading(*_args: object) -> None:
        raise AssertionError("an up-to-date build read the issues")

    monkeypatch.setattr("publisher.site.build.read_issues", no_reading)
    report = build_site(config, NOW)
    assert report.up_to_date
    assert report.written == []


def test_an_issue_whose_date_comes_is_published_though_no_file_changed(
    seed_config: Config, tmp_path: Path
) -> None:
    config = a_site(seed_config, tmp_path)
    write_issue(config.issues_dir, "next-year", 1, extra="")
    path = config.issues_dir / "next-year.md"
    path.write_text(path.read_text(encoding="utf-8").replace("2024-05-01", "2026-06-01"),
                    encoding="utf-8")
    build_site(config, NOW)
    build_site(config, NOW)
    assert build_site(config, NOW).up_to_date
    later = datetime(2026, 7, 1, tzinfo=UTC)
    assert not build_site(config, later).up_to_date
    assert (config.output_dir / "issues" / "next-year" / "index.html").exists()
    assert_equals_a_fresh_build(config, tmp_path, later)


def test_an_edit_that_keeps_the_size_and_the_mtime_is_still_seen(
    seed_config: Config, tmp_path: Path
) -> None:
    config = a_site(seed_config, tmp_path)
    build_site(config, NOW)
    build_site(config, NOW)
    path = config.issues_dir / "may-05.md"
    before = path.stat()
    path.write_text(path.read_text(encoding="utf-8").replace("Body of", "Bodx of"),
                    encoding="utf-8")
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # as `cp -p` or tar would
    assert path.stat().st_size == before.st_size
    assert not build_site(config, NOW).up_to_date
    assert "Bodx of" in (config.output_dir / "issues" / "may-05" / "index.html").read_text()
    assert_equals_a_fresh_build(config, tmp_path)


def test_a_published_file_removed_by_hand_comes_back(
    seed_config: Config, tmp_path: Path
) -> None:
    config = a_site(seed_config, tmp_path)
    build_site(config, NOW)
    build_site(config, NOW)
    for name in ("issues/may-02/index.html", "feeds/archive-2.rss", "tags/weekly/index.html"):
        (config.output_dir / name).unlink()
    (config.output_dir / "index.html").write_text("changed by hand", encoding="utf-8")
    assert not build_site(config, NOW).up_to_date
    assert_equals_a_fresh_build(config, tmp_path)


def test_a_broken_issue_fails_with_its_place_and_leaves_no_stamp_nor_poisoned_cache(
    seed_config: Config, tmp_path: Path
) -> None:
    config = a_site(seed_config, tmp_path)
    build_site(config, NOW)
    build_site(config, NOW)
    before = tree(config.output_dir)
    path = config.issues_dir / "may-05.md"
    good = path.read_text(encoding="utf-8")
    path.write_text(good.replace("date: 2024-05-05T08:00:00+00:00", "date: soon"),
                    encoding="utf-8")
    with pytest.raises(IssueFileError, match=r"may-05\.md:3: date: "):
        build_site(config, NOW)
    assert tree(config.output_dir) == before  # nothing half-written
    with pytest.raises(IssueFileError, match=r"may-05\.md:3: date: "):
        build_site(config, NOW)  # no stamp of the failed build hides the problem
    path.write_text(good.replace("Body of", "Fixed body of"), encoding="utf-8")
    assert not build_site(config, NOW).up_to_date
    assert_equals_a_fresh_build(config, tmp_path)


def test_a_full_build_leaves_the_same_tree(seed_config: Config, tmp_path: Path) -> None:
    config = a_site(seed_config, tmp_path)
    build_site(config, NOW)
    edit_body(config)
    build_site(config, NOW)
    before = tree(config.output_dir)
    report = build_site(config, NOW, full=True)
    assert not report.up_to_date
    assert len(report.rendered) == 10
    assert report.written == []
    assert tree(config.output_dir) == before


def test_the_build_command_says_when_nothing_changed_and_builds_all_with_full(
    tmp_path: Path
) -> None:
    shutil.copy(SITE / "publisher.toml", tmp_path)
    shutil.copytree(SITE / "issues", tmp_path / "issues")

    def build(*options: str) -> str:
        result = CliRunner().invoke(
            main, ["--config", str(tmp_path / "publisher.toml"), "build", *options])
        assert result.exit_code == 0, result.output
        return " ".join(result.output.split())

    assert "built 1 issue(s)" in build()
    assert "built 1 issue(s)" in build()  # the first build keeps no stamp
    assert "is up to date: nothing changed since the last build" in build()
    assert "built 1 issue(s)" in build("--full")


def test_a_build_with_an_input_as_new_as_itself_keeps_no_stamp(
    seed_config: Config, tmp_path: Path
) -> None:
    config = a_site(seed_config, tmp_path)
    build_site(config, NOW)
    path = config.issues_dir / "may-05.md"
    future = path.stat().st_mtime_ns + 3600 * 10**9  # as a file written in the build's tick
    os.utime(path, ns=(future, future))
    assert not build_site(config, NOW).up_to_date
    assert not build_site(config, NOW).up_to_date  # racy: the stamp was not kept
    assert_equals_a_fresh_build(config, tmp_path)
