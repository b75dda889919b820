"""`publisher preview` shows what a reader sees, and refuses screenshots that would show boxes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import Result

from publisher.mail.rendered import PLACEHOLDERS
from publisher.site.build import email_paths
from tests.cli import invoke_publisher
from tests.conftest import SEED_ISSUE, SITE

SLUG = "2024-06-first-half"


def preview(out: Path, *options: str) -> Result:
    old = Path.cwd()
    os.chdir(SITE)
    try:
        return invoke_publisher("preview", str(SEED_ISSUE), "--out", str(out), *options)
    finally:
        os.chdir(old)


def test_preview_is_addressed_to_a_sample_reader_and_says_so(tmp_path: Path) -> None:
    result = preview(tmp_path)
    assert result.exit_code == 0, result.output
    html_path, text_path = email_paths(tmp_path, SLUG)
    html, text = html_path.read_text(encoding="utf-8"), text_path.read_text(encoding="utf-8")
    assert not any(p in html or p in text for p in PLACEHOLDERS)
    for part in (html, text):
        assert "reader@example.org" in part
        assert "http://127.0.0.1:8000/unsubscribe/sample" in part
        assert "http://127.0.0.1:8000/preferences/sample" in part
    assert "sample reader, Sample Reader <reader@example.org>" in result.stderr
    assert "'sample'" in result.stderr


def test_screenshots_of_a_chinese_issue_without_a_cjk_font_name_the_package_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    fc_list = fake_bin / "fc-list"
    fc_list.write_text("#!/bin/sh\n# fontconfig on a machine with no CJK font: lists nothing\n")
    fc_list.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake_bin}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "preview"
    result = preview(out, "--screenshot")
    assert result.exit_code != 0
    assert "no font for zh-CN is installed" in result.output
    assert "install fonts-noto-cjk (apt-get install fonts-noto-cjk)" in result.output
    assert not list(out.rglob("*.png"))
