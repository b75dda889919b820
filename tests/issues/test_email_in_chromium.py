"""What a reader sees: the seed email in headless Chromium at phone and desktop widths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from publisher.config import Config
from publisher.content.issues import read_issue
from publisher.dev.screenshot import shoot
from publisher.mail.render import render_email
from publisher.site.build import email_paths, write_if_changed
from tests.cli import invoke_publisher
from tests.conftest import SEED_ISSUE, SITE
from tests.issues.seed import seed_titles

pytestmark = pytest.mark.chromium


def test_email_at_375px_has_no_horizontal_scroll_and_shows_every_title(
    seed_config: Config, tmp_path: Path
) -> None:
    rendered = render_email(read_issue(SEED_ISSUE), seed_config)
    html_path, _ = email_paths(tmp_path, rendered.slug)
    write_if_changed(html_path, rendered.html)
    shots = shoot(html_path.as_uri(), tmp_path / "shots", [375, 600], texts=seed_titles())
    for shot in shots:
        assert shot.scroll_width <= shot.width, f"horizontal scroll at {shot.width}px"
        hidden = [title for title, visible in shot.visible_texts.items() if not visible]
        assert hidden == [], f"titles not visible at {shot.width}px"
        assert shot.path.exists() and shot.path.stat().st_size > 10_000


def test_preview_command_writes_the_email_and_screenshots(tmp_path: Path) -> None:
    old = Path.cwd()
    os.chdir(SITE)
    try:
        result = invoke_publisher("preview", str(SEED_ISSUE), "--out", str(tmp_path),
                                  "--screenshot")
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    folder = tmp_path / "issues" / "2024-06-first-half"
    assert {p.name for p in folder.iterdir()} == {
        "email.html", "email.txt", "email-375.png", "email-600.png"}
