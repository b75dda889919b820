"""The output directory is exactly the published site: after deleting, renaming and
re-drafting issues, a rebuild leaves the same files, byte for byte, as a fresh build of the
same sources; files the build never wrote are left alone."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from publisher.config import Config, PathsConfig
from publisher.site.build import build_site
from tests.feeds.helpers import private_site, write_issue

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def into(config: Config, output: Path) -> Config:
    """The same sources and settings, built into another folder."""
    paths = PathsConfig(issues=str(config.issues_dir), output=str(output),
                        templates=str(config.templates_dir))
    return replace(config, settings=config.settings.model_copy(update={"paths": paths}))


def tree(folder: Path) -> dict[str, bytes]:
    """Every published file (the build's private .cache/ aside) with its bytes."""
    return {path.relative_to(folder).as_posix(): path.read_bytes()
            for path in sorted(folder.rglob("*"))
            if path.is_file() and ".cache" not in path.relative_to(folder).parts}


def folders(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_dir()}


def months_of_issues(seed_config: Config, tmp_path: Path) -> Config:
    """The seed issue and twelve more, two to a feed document, with tags that come and go."""
    config = replace(private_site(seed_config, tmp_path, page_size=2), root=tmp_path)
    for day in range(1, 13):
        tags = '["machine learning", weekly]' if day % 3 else "[大模型, Weekly]"
        write_issue(config.issues_dir, f"may-{day:02d}", day, tags=tags)
    return config


def test_after_deleting_renaming_and_redrafting_issues_public_equals_a_fresh_build(
    seed_config: Config, tmp_path: Path
) -> None:
    config = months_of_issues(seed_config, tmp_path)
    build_site(config, NOW)
    issues = config.issues_dir
    assert (config.output_dir / "feeds" / "archive-6.atom").exists()  # 13 issues: 6 runs of 2
    for day in (1, 2, 4, 5, 7, 8):  # every "machine learning" issue but two
        (issues / f"may-{day:02d}.md").unlink()
    (issues / "may-10.md").rename(issues / "may-ten.md")
    for day in (3, 6):  # the first two 大模型 issues go back to drafts
        path = issues / f"may-{day:02d}.md"
        path.write_text(path.read_text().replace("language: en\n", "language: en\ndraft: true\n"))
    report = build_site(config, NOW)
    fresh = into(config, tmp_path / "fresh")
    build_site(fresh, NOW)
    assert tree(config.output_dir) == tree(fresh.output_dir)
    assert folders(config.output_dir) == folders(fresh.output_dir)
    assert not (config.output_dir / "issues" / "may-10").exists()
    assert (config.output_dir / "feeds" / "archive-2.atom").exists()  # 5 issues left
    assert not (config.output_dir / "feeds" / "archive-3.atom").exists()
    assert {p.name for p in report.removed} >= {"archive-6.atom", "email.html", "index.html"}
    cache = config.output_dir / ".cache"
    assert {p.stem for p in cache.glob("*.html")} == {
        "2024-06-first-half", "may-09", "may-ten", "may-11", "may-12"}
    assert set(json.loads((cache / "manifest.json").read_text())) == {
        p.stem for p in cache.glob("*.html")}


def test_files_the_build_did_not_write_are_never_removed(
    seed_config: Config, tmp_path: Path
) -> None:
    config = months_of_issues(seed_config, tmp_path)
    out = config.output_dir
    mine = [out / "robots.txt", out / "issues" / "may-01" / "photo.png",
            out / "tags" / "notes.txt"]
    for path in mine:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"put here by hand")
    build_site(config, NOW)
    (config.issues_dir / "may-01.md").unlink()
    build_site(config, NOW)
    assert all(path.read_bytes() == b"put here by hand" for path in mine)
    assert not (out / "issues" / "may-01" / "index.html").exists()
    assert not (out / "issues" / "may-01" / "email.html").exists()


def test_a_tree_built_before_outputs_were_listed_loses_what_old_builds_wrote(
    seed_config: Config, tmp_path: Path
) -> None:
    config = months_of_issues(seed_config, tmp_path)
    out = config.output_dir
    build_site(config, NOW)
    (out / ".cache" / "outputs.json").unlink()  # as an older version left it
    old_tag = out / "tags" / "machine%20learning" / "feed.atom"
    old_tag.parent.mkdir(parents=True)
    old_tag.write_bytes(b"<feed/>")
    build_site(config, NOW)
    assert not old_tag.parent.exists()
    fresh = into(config, tmp_path / "fresh")
    build_site(fresh, NOW)
    assert tree(out) == tree(fresh.output_dir)
