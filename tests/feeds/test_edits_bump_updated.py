"""An edit to what a reader reads (title, summary, body) changes the entry's `updated` to the
time the build first saw it; an explicit `updated` in the front matter wins."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from publisher.config import Config
from publisher.site.build import build_site
from tests.feeds.helpers import private_site, write_issue

FIRST, EDITED, LATER = (datetime(2026, 1, day, tzinfo=UTC) for day in (1, 5, 9))


def item(config: Config, slug: str) -> dict[str, str]:
    feed = json.loads((config.output_dir / "feed.json").read_text(encoding="utf-8"))
    found: dict[str, str] = next(i for i in feed["items"] if i["url"].endswith(f"/{slug}/"))
    return found


def test_editing_the_body_sets_updated_to_the_build_that_first_saw_the_edit(
    seed_config: Config, tmp_path: Path
) -> None:
    config = private_site(seed_config, tmp_path)
    path = write_issue(config.issues_dir, "edited", 3)
    build_site(config, FIRST)
    assert item(config, "edited")["date_modified"] == "2024-05-03T08:00:00+00:00"
    path.write_text(path.read_text() + "\nA correction: the paper has a second author.\n")
    build_site(config, EDITED)
    assert item(config, "edited")["date_modified"] == EDITED.isoformat()
    feeds = {p: p.read_bytes() for p in config.output_dir.rglob("feed.*")}
    report = build_site(config, LATER)  # nothing changed since
    assert item(config, "edited")["date_modified"] == EDITED.isoformat()
    assert {p: p.read_bytes() for p in feeds} == feeds and report.written == []
    untouched = item(config, "2024-06-first-half")
    assert untouched["date_modified"] == untouched["date_published"]


def test_an_explicit_updated_wins_over_the_recorded_edit(
    seed_config: Config, tmp_path: Path
) -> None:
    config = private_site(seed_config, tmp_path)
    path = write_issue(config.issues_dir, "explicit", 3)
    build_site(config, FIRST)
    path.write_text(path.read_text().replace(
        "language: en\n", "language: en\nupdated: 2024-05-04T10:00:00+00:00\n")
        + "\nMore words.\n")
    build_site(config, EDITED)
    assert item(config, "explicit")["date_modified"] == "2024-05-04T10:00:00+00:00"


def test_a_template_change_rerenders_without_bumping_updated(
    seed_config: Config, tmp_path: Path
) -> None:
    config = private_site(seed_config, tmp_path)
    write_issue(config.issues_dir, "steady", 3)
    build_site(config, FIRST)
    settings = config.settings.model_copy(update={"site": config.settings.site.model_copy(
        update={"contact_line": "A new postal address"})})
    changed = type(config)(settings=settings, root=config.root)
    report = build_site(changed, EDITED)
    assert "steady" in report.rendered
    assert item(changed, "steady")["date_modified"] == "2024-05-03T08:00:00+00:00"
