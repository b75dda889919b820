"""`publisher import` of post archives: Substack, Buttondown and beehiiv posts become one
folder of issue files that `publisher check` accepts, with their old URLs as ids and an
nginx redirect map; what the conversion cannot keep is listed per file."""

from __future__ import annotations

import os
import subprocess
import zipfile
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import feedparser
import yaml

from publisher.config import load_config
from publisher.content.foreign_posts import html_to_markdown
from publisher.site.build import build_site
from tests.cli import run_publisher_here
from tests.conftest import REPO
from tests.subscribers.helpers import ENV, site_config
from tests.subscribers.test_tool_import import publisher_import

DATA = REPO / "tests" / "data" / "imports"


def zipped(folder: Path, target: Path) -> Path:
    """The tool's zip, made from the export's files as they are."""
    with zipfile.ZipFile(target, "w") as archive:
        for root, _dirs, names in os.walk(folder):
            for name in names:
                path = Path(root) / name
                archive.write(path, path.relative_to(folder).as_posix())
    return target


def front_matter(path: Path) -> dict[str, object]:
    return dict(yaml.safe_load(path.read_text(encoding="utf-8").split("---\n")[1]))


def check(config: Path, *files: Path) -> subprocess.CompletedProcess[str]:
    return run_publisher_here(config, "check", *map(str, files), env=ENV)


def test_a_substack_zip_becomes_issue_files_check_accepts_with_old_ids_and_redirects(
        tmp_path: Path) -> None:
    config = site_config(tmp_path)
    archive = zipped(DATA / "substack_export", tmp_path / "substack.zip")
    out = tmp_path / "imported"
    done = publisher_import(config, str(archive), "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert "posts: 2 into" in done.stdout
    assert "Substack email list: pending 0, confirmed 2" in done.stdout
    post = out / "issues" / "first-steps.md"
    assert (f"{post}: not kept: iframe https://www.youtube-nocookie.com/embed/abc"
            in done.stderr)
    assert f"{post}: not kept: img http://insecure.example.com/old.gif" in done.stderr
    meta = front_matter(post)
    assert meta["id"] == "https://ai-weekly.substack.com/p/first-steps"
    assert meta["summary"] == "What we read this week, and why"
    assert datetime.fromisoformat(str(meta["date"])) == datetime(2023, 10, 5, 14, tzinfo=UTC)
    assert front_matter(out / "issues" / "draft-notes.md")["draft"] is True
    body = post.read_text(encoding="utf-8")
    assert "We read [WildBench](https://arxiv.org/abs/2406.04770) and liked it **a lot**." \
        in body
    assert "![A chart](https://substackcdn.com/image/fetch/w_1456/chart.png)" in body
    assert (out / "nginx-redirects.map").read_text() == "/p/first-steps /issues/first-steps/;\n"
    checked = check(config, *sorted((out / "issues").glob("*.md")))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # built, the post keeps its old URL as its feed entry's id, so no reader sees it as new
    site = replace(load_config(config_file=config), root=tmp_path)
    paths = site.settings.paths.model_copy(update={"issues": str(out / "issues"),
                                                   "output": str(tmp_path / "public")})
    build_site(replace(site, settings=site.settings.model_copy(update={"paths": paths})),
               datetime.now(UTC))
    feed = feedparser.parse((tmp_path / "public" / "feed.atom").read_bytes())
    assert [entry.id for entry in feed.entries] == ["https://ai-weekly.substack.com/p/first-steps"]


def test_importing_the_same_posts_again_writes_nothing_and_never_overwrites_edits(
        tmp_path: Path) -> None:
    config = site_config(tmp_path)
    archive = zipped(DATA / "substack_export", tmp_path / "substack.zip")
    out = tmp_path / "imported"
    assert publisher_import(config, str(archive), "--out", str(out)).returncode == 0
    again = publisher_import(config, str(archive), "--out", str(out))
    assert again.returncode == 0, again.stderr
    assert f"wrote 0 file(s) in {out}" in again.stdout
    edited = out / "issues" / "first-steps.md"
    edited.write_text(edited.read_text(encoding="utf-8") + "An edit.\n", encoding="utf-8")
    refused = publisher_import(config, str(archive), "--out", str(out))
    assert refused.returncode == 1
    assert f"{edited}: exists with other content; not overwritten" in refused.stderr
    assert edited.read_text(encoding="utf-8").endswith("An edit.\n")


def test_a_dry_run_counts_the_posts_and_writes_no_file(tmp_path: Path) -> None:
    config = site_config(tmp_path)
    archive = zipped(DATA / "substack_export", tmp_path / "substack.zip")
    out = tmp_path / "imported"
    done = publisher_import(config, str(archive), "--out", str(out), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "posts: 2 into" in done.stdout
    assert not out.exists()


def test_a_buttondown_archive_keeps_its_markdown_and_the_old_url_given(tmp_path: Path) -> None:
    config = site_config(tmp_path)
    archive = zipped(DATA / "buttondown_archive", tmp_path / "buttondown.zip")
    out = tmp_path / "imported"
    done = publisher_import(config, str(archive), "--out", str(out),
                            "--old-url", "https://buttondown.com/aiweekly")
    assert done.returncode == 0, done.stderr
    post = out / "issues" / "hello-world.md"
    meta = front_matter(post)
    assert meta["id"] == "https://buttondown.com/aiweekly/archive/hello-world/"
    assert datetime.fromisoformat(str(meta["date"])).utcoffset() == timedelta(hours=1)
    assert "- [A link](https://example.org/next)" in post.read_text(encoding="utf-8")
    assert (out / "nginx-redirects.map").read_text() == \
        "/aiweekly/archive/hello-world/ /issues/hello-world/;\n"
    assert check(config, post).returncode == 0


def test_a_beehiiv_posts_csv_keeps_tags_web_url_and_lists_its_form(tmp_path: Path) -> None:
    config = site_config(tmp_path)
    out = tmp_path / "imported"
    done = publisher_import(config, str(DATA / "beehiiv_posts.csv"), "--out", str(out))
    assert done.returncode == 0, done.stderr
    post = out / "issues" / "weekly-7.md"
    meta = front_matter(post)
    assert (meta["id"], meta["tags"]) == ("https://letter.beehiiv.com/p/weekly-7",
                                          ["llm", "weekly"])
    assert f"{post}: not kept: form https://letter.beehiiv.com/subscribe" in done.stderr
    assert check(config, post).returncode == 0


def test_html_the_converter_cannot_keep_is_named_and_the_rest_is_markdown() -> None:
    markdown, lost = html_to_markdown(
        '<p>Hi <em>there</em></p><video src="https://v.example/x.mp4"></video>'
        '<script>alert(1)</script>')
    assert markdown == "Hi *there*\n"
    assert lost == ("video https://v.example/x.mp4", "script")

