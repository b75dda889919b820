"""The site stamp: whether anything that feeds a build, or that it wrote, changed since the
last good build, so that a build with nothing to do stops at once.

A build's inputs are the issue files, the settings, the templates (the site's and the ones
publisher ships), and publisher itself: its version and every file of the package (code and
locale catalogs). Its outputs are the files of the published tree (listed in
<output>/.cache/outputs.json) and the private previews. The stamp, <output>/.cache/stamp.json,
holds a digest of the inputs (paths, sizes, mtimes and ctimes), a digest of the outputs
(paths, sizes and mtimes) and the span of build times over which the same issues are
published (from the newest published date to the first future one). It holds only digests
and dates, nothing of an unpublished issue.

Sizes and times, not contents: a stat per file is what makes the check cheap. The ctime is
in it because no tool can set it back: a file restored with its old mtime (`cp -p`, `touch
-d`, an archive) still gets a new one. A file written in the same clock tick as the build
read it could keep both times, so a build whose inputs are not all older than its own start
saves no stamp (racy, as git says of such an index entry) and the next build checks all.
A build first voids the stamp, and only a build that finished without a warning saves one:
a failed or interrupted build leaves none behind. A first build (no cache folder yet) saves
none either: the second is the first that can be skipped.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import publisher
from publisher import __version__
from publisher.config import Config
from publisher.templating import template_files

STAMP = "stamp.json"
_PACKAGE = Path(publisher.__file__).resolve().parent


@dataclass(frozen=True)
class Inputs:
    """The digest of a build's inputs, and the newest mtime or ctime among their files."""

    digest: str
    newest_ns: int


def _stat_rows(paths: Iterable[str | Path]) -> Iterable[tuple[str, int, int, int]]:
    for path in paths:
        try:
            stat = os.stat(path)
        except OSError:
            continue  # gone since it was listed: its absence is in the digest
        yield str(path), stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns


def _files_under(folder: Path) -> list[str]:
    """Every file under `folder` but compiled bytecode, sorted (os.walk: this runs on
    every build, and pathlib's rglob costs several times as much)."""
    found: list[str] = []
    for parent, folders, files in os.walk(folder):
        folders[:] = [name for name in folders if name != "__pycache__"]
        found += [os.path.join(parent, name) for name in files]
    return sorted(found)


def _input_files(config: Config) -> list[str | Path]:
    issues = sorted(entry.path for entry in os.scandir(config.issues_dir)
                    if entry.name.endswith(".md"))
    return [*issues, *template_files(config.templates_dir).values(), *_files_under(_PACKAGE)]


def inputs(config: Config) -> Inputs:
    """Everything a build reads, as one digest (the settings with where they point)."""
    digest = hashlib.sha256(__version__.encode())
    for place in (config.root, config.issues_dir, config.output_dir, config.templates_dir):
        digest.update(str(place.resolve()).encode() + b"\0")
    digest.update(config.settings.model_dump_json().encode())
    newest = 0
    for name, size, mtime, ctime in _stat_rows(_input_files(config)):
        digest.update(f"{name}\0{size}\0{mtime}\0{ctime}\n".encode())
        newest = max(newest, mtime, ctime)
    return Inputs(digest.hexdigest(), newest)


def outputs(root: Path, names: Iterable[str], private: Path) -> str:
    """A digest of the published files (`names`, relative to `root`) and of every file in
    the private folder, as they are now."""
    digest = hashlib.sha256()
    private_files = sorted(str(p.relative_to(private)) for p in private.rglob("*") if p.is_file())
    for folder, relative in ((root, sorted(names)), (private, private_files)):
        paths = [os.path.join(folder, name) for name in relative]
        for name, size, mtime, _ctime in _stat_rows(paths):
            digest.update(f"{name}\0{size}\0{mtime}\n".encode())
        digest.update(b"\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class Stamp:
    """What the last good build saw and left, and the build times it holds for."""

    inputs: str
    outputs: str
    published_from: datetime | None  # the newest published issue's date
    until: datetime | None  # the first future (not draft) issue's date

    def holds(self, current: Inputs, current_outputs: Callable[[], str], now: datetime) -> bool:
        """Whether nothing changed (the outputs are looked at only when the inputs match)."""
        return ((self.published_from is None or self.published_from <= now)
                and (self.until is None or now < self.until)
                and self.inputs == current.digest and self.outputs == current_outputs())

    def to_json(self) -> str:
        return json.dumps({
            "inputs": self.inputs, "outputs": self.outputs,
            "published_from": _iso(self.published_from), "until": _iso(self.until)},
            indent=1) + "\n"


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _moment(value: object) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def load(cache_dir: Path) -> Stamp | None:
    """The last good build's stamp, or None (none saved, or unreadable)."""
    try:
        data = json.loads((cache_dir / STAMP).read_text(encoding="utf-8"))
        return Stamp(str(data["inputs"]), str(data["outputs"]),
                     _moment(data["published_from"]), _moment(data["until"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def begin(cache_dir: Path, config: Config) -> Inputs | None:
    """Void the stamp (nothing holds until this build ends well), then take the inputs: None
    when this build may not save a stamp, because there is no cache folder yet (a first
    build, which creates nothing before its checks pass) or an input is not older than
    the build's start (the filesystem's time of the voided stamp; racy)."""
    if not cache_dir.is_dir():
        return None
    marker = cache_dir / STAMP
    marker.write_text("{}\n", encoding="utf-8")
    stat = marker.stat()
    current = inputs(config)
    return current if current.newest_ns < max(stat.st_mtime_ns, stat.st_ctime_ns) else None
