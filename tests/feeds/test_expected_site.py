"""The seed site, built on a fixed day, is exactly the checked-in tree tests/data/expected-site/
(as Pelican's functional test does): every feed, archive page, tag page and the email kept in
the archive, compared file by file. Binary assets and the build's private cache are left out.

After an intended change to the output, regenerate the tree and review its diff:
`PUBLISHER_REGEN_EXPECTED=1 .venv/bin/pytest tests/feeds/test_expected_site.py`.
"""

from __future__ import annotations

import difflib
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

from publisher.site.build import build_site
from tests.conftest import EXPECTED_SITE, REGEN_EXPECTED, make_seed_config

BUILT_ON = datetime(2024, 7, 1, 9, 0, tzinfo=UTC)
LEFT_OUT_FOLDERS = {".cache"}  # the build's own bookkeeping, not what is served
BINARY_SUFFIXES = {".ico", ".png", ".jpg", ".gif", ".webp", ".woff2"}
SHOWN_LINES = 40


def site_files(root: Path) -> dict[str, str]:
    """Each text file of a built site by its path under root (POSIX), with its text."""
    return {path.relative_to(root).as_posix(): path.read_bytes().decode("utf-8")
            for path in sorted(root.rglob("*"))
            if path.is_file() and path.suffix not in BINARY_SUFFIXES
            and not LEFT_OUT_FOLDERS & set(path.relative_to(root).parts)}


def first_differences(name: str, expected: str, built: str) -> str:
    """The start of a unified diff between a file's expected and built text, naming it."""
    diff = list(difflib.unified_diff(expected.splitlines(), built.splitlines(),
                                     f"expected-site/{name}", f"built/{name}", lineterm=""))
    more = f"\n… {len(diff) - SHOWN_LINES} more diff lines" if len(diff) > SHOWN_LINES else ""
    return "\n".join(diff[:SHOWN_LINES]) + more


def write_expected(files: dict[str, str]) -> None:
    """Replace tests/data/expected-site with these files (regeneration only)."""
    shutil.rmtree(EXPECTED_SITE, ignore_errors=True)
    for name, text in files.items():
        path = EXPECTED_SITE / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode("utf-8"))


def test_the_seed_site_built_on_a_fixed_day_is_the_checked_in_tree(tmp_path: Path) -> None:
    config = make_seed_config(tmp_path)
    build_site(config, BUILT_ON)
    built = site_files(tmp_path / "public")
    if os.environ.get(REGEN_EXPECTED) == "1":
        write_expected(built)
    expected = site_files(EXPECTED_SITE)
    assert sorted(built) == sorted(expected), (
        f"files only built: {sorted(set(built) - set(expected))}; "
        f"only expected: {sorted(set(expected) - set(built))}; regenerate with "
        f"{REGEN_EXPECTED}=1 if intended")
    differing = [name for name in expected if expected[name] != built[name]]
    assert not differing, (
        f"{len(differing)} file(s) differ from tests/data/expected-site ({REGEN_EXPECTED}=1 "
        f"regenerates them):\n" + first_differences(differing[0], expected[differing[0]],
                                                   built[differing[0]]))


def test_a_second_build_in_another_folder_is_byte_for_byte_the_same(tmp_path: Path) -> None:
    """Nothing in the output depends on the folder it is built in or on the wall clock."""
    trees = []
    for folder in ("one", "two"):
        (tmp_path / folder).mkdir()
        config = make_seed_config(tmp_path / folder)
        build_site(config, BUILT_ON)
        trees.append(site_files(tmp_path / folder / "public"))
    assert trees[0] == trees[1]
