"""Pages and feeds by what they are made from: one whose inputs are those of the last build
and whose file is still as that build left it is not rendered again.

Each such file of the published tree (an issue page, an index or tag page, a page of a feed
in its three formats) has a key: a digest of the site's fingerprint (settings, templates,
version) and of every value its rendering reads. <output>/.cache/derived.json maps each to
its key and to the size and mtime the file had when the build left it; a file changed or
removed by hand since is rendered again, so the tree stays what a fresh build makes. The
record is saved only by a build that ends well and lists only the files that build made.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

DERIVED = "derived.json"


def key(*parts: object) -> str:
    """A digest of strings (taken as they are) and of values whose repr says all they hold
    (dataclasses, lists, tuples)."""
    digest = hashlib.sha256()
    for part in parts:
        text = part if isinstance(part, str) else repr(part)
        digest.update(f"{len(text)}:".encode() + text.encode("utf-8"))
    return digest.hexdigest()


class Derived:
    """Last build's keys and file stats, and this build's, by path in the published tree."""

    def __init__(self, cache_dir: Path) -> None:
        self.file = cache_dir / DERIVED
        try:
            stored = json.loads(self.file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            stored = {}
        self.previous: dict[str, list[object]] = stored if isinstance(stored, dict) else {}
        self.current: dict[str, list[object]] = {}

    def unchanged(self, name: str, key: str, path: Path) -> bool:
        """Whether the last build made `path` from `key` and it is as it left it (then it
        stays recorded for this build too)."""
        record = self.previous.get(name)
        if not record or record[0] != key:
            return False
        try:
            stat = path.stat()
        except OSError:
            return False
        if record[1:] != [stat.st_size, stat.st_mtime_ns]:
            return False
        self.current[name] = record
        return True

    def note(self, name: str, key: str, path: Path) -> None:
        """Record `path` as just written (or found identical) from `key`."""
        stat = path.stat()
        self.current[name] = [key, stat.st_size, stat.st_mtime_ns]

    def dump(self) -> str:
        return json.dumps(self.current, sort_keys=True) + "\n"
