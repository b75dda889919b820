"""Helpers for feed tests: a private copy of the site to edit, and synthetic issues."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path

from publisher.config import Config, PathsConfig
from tests.conftest import REPO, SITE


def private_site(config: Config, tmp_path: Path, page_size: int | None = None) -> Config:
    """The seed site with its issues copied into tmp_path, so tests can edit them."""
    issues = tmp_path / "issues"
    shutil.copytree(SITE / "issues", issues)
    paths = PathsConfig(issues=str(issues), output=str(tmp_path / "public"),
                        templates=str(REPO / "templates"),
                        automations=str(tmp_path / "automations"))
    updates: dict[str, object] = {"paths": paths}
    if page_size is not None:
        updates["feeds"] = config.settings.feeds.model_copy(update={"page_size": page_size})
    return replace(config, settings=config.settings.model_copy(update=updates))


def write_issue(folder: Path, slug: str, day: int, *, title: str | None = None,
                tags: str = "[weekly]", extra: str = "") -> Path:
    path = folder / f"{slug}.md"
    path.write_text(
        "---\n"
        f'title: "{title or "Issue " + slug}"\n'
        f"date: 2024-05-{day:02d}T08:00:00+00:00\n"
        f'summary: "Summary of {slug}"\n'
        f"tags: {tags}\n"
        "authors: [Editor]\n"
        "language: en\n"
        f"{extra}"
        "---\n\n"
        f"Body of {slug} with a [relative link](/issues/{slug}/) and "
        "<https://example.org/paper>.\n",
        encoding="utf-8",
    )
    return path
