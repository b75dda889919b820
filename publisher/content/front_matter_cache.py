"""Parsed front matter kept between builds, so a rebuild parses the YAML of changed files only.

Keyed by a SHA-256 of the front matter's text, never by a file's size and mtime: an edit
within the filesystem's timestamp granularity, a file restored with its old mtime or a
renamed file can never be served another text's data, and a deleted file's entry is simply
never asked for again. Only data JSON holds exactly (strings, numbers, booleans, null, lists,
string-keyed mappings) is kept; anything else is parsed on every read. Front matter with a
duplicate key is never kept, so its problem is reported on every read.

Which entries are saved is the caller's choice (`dump` takes the files to keep): the build
keeps published issues only, as its other caches do.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def _key(yaml_text: str) -> str:
    return hashlib.sha256(yaml_text.encode("utf-8")).hexdigest()


def _exactly_json(data: dict[str, Any]) -> bool:
    """Whether JSON gives `data` back unchanged (no dates, sets, bytes or number keys)."""
    try:
        return bool(json.loads(json.dumps(data)) == data)
    except (TypeError, ValueError):
        return False


class FrontMatterCache:
    """Front matter data and key lines by the text they were parsed from."""

    def __init__(self, entries: dict[str, Any] | None = None) -> None:
        self.entries: dict[str, Any] = entries or {}
        self.by_path: dict[Path, str] = {}  # files read with this cache -> their key

    @classmethod
    def load(cls, file: Path) -> FrontMatterCache:
        """The cache saved in `file`; empty when there is none or it cannot be read."""
        try:
            stored = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return cls()
        return cls(stored if isinstance(stored, dict) else None)

    def get(self, yaml_text: str, path: Path) -> tuple[dict[str, Any], dict[str, int]] | None:
        """The data and key lines parsed from this very text before, else None."""
        key = _key(yaml_text)
        entry = self.entries.get(key)
        if not isinstance(entry, dict):
            return None
        self.by_path[path] = key
        return entry["data"], entry["lines"]

    def put(self, yaml_text: str, path: Path, data: dict[str, Any],
            lines: dict[str, int]) -> None:
        if _exactly_json(data):
            key = _key(yaml_text)
            self.entries[key] = {"data": data, "lines": lines}
            self.by_path[path] = key

    def dump(self, keep: set[Path]) -> str:
        """The entries of the files in `keep` (each as last read), as JSON for `load`."""
        kept = {key: self.entries[key] for path, key in self.by_path.items()
                if path in keep and key in self.entries}
        return json.dumps(kept, sort_keys=True, ensure_ascii=False)
