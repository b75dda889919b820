"""What an author writes reaches email, archive and feeds alike; what is wrong stops the build."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import pytest

from publisher.config import Config
from publisher.errors import IssueFileError
from publisher.site.build import build_site, email_paths
from tests.cli import invoke_publisher
from tests.conftest import SEED_ISSUE, SITE
from tests.feeds.helpers import private_site

NOW = datetime(2026, 1, 1, tzinfo=UTC)
BASE = "http://127.0.0.1:8000"  # the repo's site.base_url

BODY = """\
Einstein: E = mc<sup>2</sup>; water: H<sub>2</sub>O; copy with <kbd>Ctrl</kbd>+<kbd>C</kbd>.<br>
A <mark>marked</mark>, <small>small</small>, <b>bold</b> and <i>italic</i> word.

<img src="https://example.org/chart.png" alt="A chart of the results" width="600" height="300">

See [the previous issue](/issues/2024-06-first-half/) and its figure:

![The figure](/img/y.png)
"""


def write_issue(folder: Path, slug: str, body: str, extra: str = "") -> Path:
    path = folder / f"{slug}.md"
    path.write_text(f'---\ntitle: "Issue {slug}"\ndate: 2024-05-06T08:00:00+00:00\n'
                    f"language: en\n{extra}---\n\n{body}", encoding="utf-8")
    return path


def outputs(config: Config, slug: str) -> dict[str, str]:
    """The issue's body as each reader gets it: email, archive page, JSON and Atom feeds."""
    out = config.output_dir
    html, text = email_paths(out, slug)
    feed = json.loads((out / "feed.json").read_text(encoding="utf-8"))
    atom = feedparser.parse((out / "feed.atom").read_bytes(), sanitize_html=False)
    return {
        "email": html.read_text(encoding="utf-8"),
        "text": text.read_text(encoding="utf-8"),
        "archive": (out / "issues" / slug / "index.html").read_text(encoding="utf-8"),
        "json feed": next(i["content_html"] for i in feed["items"] if slug in i["url"]),
        "atom feed": next(e.content[0].value for e in atom.entries if slug in e.link),
    }


def test_the_safe_html_subset_reaches_email_archive_and_feeds_as_html(
    seed_config: Config, tmp_path: Path
) -> None:
    config = private_site(seed_config, tmp_path)
    write_issue(config.issues_dir, "raw", BODY)
    build_site(config, NOW)
    found = outputs(config, "raw")
    for where in ("email", "archive", "json feed", "atom feed"):
        html = found[where]
        for markup in ("<sup>2</sup>", "<sub>2</sub>", "<kbd>Ctrl</kbd>", "<mark>marked</mark>",
                       "<small>small</small>", "<b>bold</b>", "<i>italic</i>", "<br"):
            assert markup in html, (where, markup)
        assert "&lt;sup&gt;" not in html and "&lt;img" not in html, where
        assert 'src="https://example.org/chart.png"' in html, where
        assert 'alt="A chart of the results"' in html, where
    assert "[A chart of the results]" in found["text"] and "mc2" in found["text"]


def test_root_relative_links_and_images_are_absolute_in_the_email_html_and_text(
    seed_config: Config, tmp_path: Path
) -> None:
    config = private_site(seed_config, tmp_path)
    write_issue(config.issues_dir, "relative", BODY)
    build_site(config, NOW)
    found = outputs(config, "relative")
    for where in ("email", "archive", "json feed", "atom feed"):
        assert f'href="{BASE}/issues/2024-06-first-half/"' in found[where], where
        assert f'src="{BASE}/img/y.png"' in found[where], where
        assert 'href="/' not in found[where] and 'src="/' not in found[where], where
    assert f"{BASE}/issues/2024-06-first-half/" in found["text"]
    assert f"{BASE}/img/y.png" in found["text"]


def test_html_outside_the_subset_stops_the_build_with_its_line(
    seed_config: Config, tmp_path: Path
) -> None:
    config = private_site(seed_config, tmp_path)
    body = 'Fine.\n\n<span style="color:red">red</span>\n\n<img src=x onerror=alert(1)>\n'
    path = write_issue(config.issues_dir, "unsafe", body)
    with pytest.raises(IssueFileError) as refused:
        build_site(config, NOW)
    message = str(refused.value)
    assert f"{path}:9: body: HTML <span> is not allowed" in message
    assert f"{path}:11: body: HTML attribute 'onerror' on <img> is not allowed" in message
    assert not (config.output_dir / "issues" / "unsafe").exists()


def test_the_build_refuses_two_issues_with_one_id(seed_config: Config, tmp_path: Path) -> None:
    config = private_site(seed_config, tmp_path)
    seed_id = 'id: "tag:digest.example.org,2024-06-16:2024-06-first-half"\n'
    copy = write_issue(config.issues_dir, "copy", "A copy that kept the id.\n", extra=seed_id)
    with pytest.raises(IssueFileError) as refused:
        build_site(config, NOW)
    first = config.issues_dir / "2024-06-first-half.md"
    assert f"{copy}:5: id: duplicate of {first}:10" in str(refused.value)
    assert not (config.output_dir / "feed.atom").exists()


def test_a_file_saved_with_a_byte_order_mark_checks_clean(tmp_path: Path) -> None:
    with_bom = tmp_path / SEED_ISSUE.name
    with_bom.write_bytes(b"\xef\xbb\xbf" + SEED_ISSUE.read_bytes())
    old = Path.cwd()
    os.chdir(SITE)
    try:
        result = invoke_publisher("check", str(with_bom))
    finally:
        os.chdir(old)
    assert result.exit_code == 0, result.output
    assert "missing front matter" not in result.output
