"""`publisher new` writes a valid draft with a permanent id, dated in the site's timezone."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from publisher.content.issues import read_issue
from tests.cli import invoke_publisher
from tests.conftest import REPO, SITE


def test_new_scaffolds_a_draft_that_passes_check(tmp_path: Path) -> None:
    shutil.copy(SITE / "publisher.toml", tmp_path / "publisher.toml")
    shutil.copytree(REPO / "templates", tmp_path / "templates")
    old = Path.cwd()
    os.chdir(tmp_path)
    try:
        # The shipped base_url is loopback: a permanent id is never made from it.
        refused = invoke_publisher("new", "Second half of June: 论文")
        assert refused.exit_code == 1 and "is a local address" in refused.output
        assert "--domain" in refused.output and not (tmp_path / "issues").exists()
        domain = ["--domain", "digest.example.org"]
        created = invoke_publisher("new", "Second half of June: 论文", *domain)
        assert created.exit_code == 0, created.output
        path = Path(created.output.strip())
        issue = read_issue(path)
        assert issue.meta.draft is True
        assert issue.meta.date.utcoffset() is not None
        assert str(issue.meta.date.tzinfo) in ("Asia/Shanghai", "UTC+08:00")
        assert issue.meta.id and issue.meta.id.startswith("tag:digest.example.org,")
        assert path.name.endswith("-second-half-of-june-lun-wen.md")
        checked = invoke_publisher("check", str(path))
        assert checked.exit_code == 0, checked.output
        again = invoke_publisher("new", "Second half of June: 论文", *domain)
        assert again.exit_code == 0, again.output
        assert again.stdout.strip().endswith("-second-half-of-june-lun-wen-2.md")
    finally:
        os.chdir(old)
