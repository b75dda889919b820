"""When a translation fell behind its original: the one check on translations that reads
history, so it lives apart from the pure checks in `lint`.

In a git work tree the times are commit times: the original's last commit that changed its
body (front-matter edits such as `send_at` do not count), against the translation's last
commit; a file with uncommitted changes counts as changed at its mtime. Outside git (or
for a file git does not track) both are file mtimes, where any edit of the original counts.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path

from publisher.content.issues import original_path, split_front_matter, translation_language
from publisher.errors import Problem

GIT_TIMEOUT_SECONDS = 10


def _git(folder: Path, *args: str) -> str | None:
    """A git command's output in `folder`, or None when git is absent or says no."""
    try:
        done = subprocess.run(["git", "-C", str(folder), *args], capture_output=True,
                              timeout=GIT_TIMEOUT_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.decode("utf-8", "replace") if done.returncode == 0 else None


def _body(text: str | None) -> str | None:
    parts = split_front_matter(text) if text is not None else None
    return parts[1] if parts else text


def _mtime(path: Path) -> datetime:
    return datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)


def _committed_changes(path: Path) -> list[tuple[datetime, str]]:
    """(commit time, file text at that commit) of every commit touching `path`, newest
    first; empty when git does not track it."""
    log = _git(path.parent, "log", "--format=%ct %H", "--", path.name)
    changes = []
    for line in (log or "").splitlines():
        stamp, commit = line.split()
        text = _git(path.parent, "show", f"{commit}:./{path.name}")
        changes.append((datetime.fromtimestamp(int(stamp), tz=UTC), text or ""))
    return changes


def last_edit(path: Path, *, body_only: bool) -> tuple[datetime, str]:
    """When `path` (its body, with `body_only`) last changed, and whether git or the file's
    mtime says so."""
    changes = _committed_changes(path)
    if not changes:
        return _mtime(path), "mtime"
    read = _body if body_only else (lambda text: text)
    if read(path.read_text(encoding="utf-8")) != read(changes[0][1]):
        return _mtime(path), "git"  # edited since its last commit
    for (when, text), (_, before) in zip(changes, changes[1:], strict=False):
        if read(text) != read(before):
            return when, "git"
    return changes[-1][0], "git"  # unchanged since the commit that added it


def stale_translation_warnings(translation: Path) -> list[Problem]:
    """A warning naming both files when the original's body changed after the translation."""
    original = original_path(translation)
    if translation_language(translation) is None or not original.is_file():
        return []
    edited, by = last_edit(original, body_only=True)
    translated, _ = last_edit(translation, body_only=False)
    if translated >= edited:
        return []
    source = "git commits" if by == "git" else "file times"
    return [Problem(translation, 1, None,
                    f"older than its original: {original} changed its body on "
                    f"{edited.isoformat(timespec='seconds')}, after {translation} was last "
                    f"changed ({translated.isoformat(timespec='seconds')}; by {source}); "
                    "update the translation")]
