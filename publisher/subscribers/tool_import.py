"""`publisher import`: another tool's subscriber export (a CSV, or a zip of them) into the
store, streamed.

Each CSV is recognised by `tool_formats` from its name and header row. A first pass reads
every row and writes nothing: it counts readers by status and collects each row that cannot
be taken, by file and line (this is all a dry run does). The second pass runs only when
there was no error, or the operator said to skip them, and writes through the store in
1,000-row batches: joiners with `add_many` (never undoing an opt-out made here), opt-outs
with `record_departures` (a suppression, never a subscriber). Running it again changes
nothing that the first run wrote.
"""

from __future__ import annotations

import codecs
import csv
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from pathlib import Path
from typing import IO

from sqlalchemy.engine import Engine

from publisher.errors import PublisherError
from publisher.outage import RetryPolicy, retry
from publisher.subscribers import store
from publisher.subscribers.csv_files import (
    BATCH,
    LineCountingReader,
    Unreadable,
    delimiter_of,
    located_rows,
)
from publisher.subscribers.languages import with_site_language
from publisher.subscribers.store import LEFT, PENDING, STATUSES, Consent
from publisher.subscribers.tool_formats import FORMATS, Recognised, recognise

Opener = Callable[[], AbstractContextManager[IO[bytes]]]
CsvReader = LineCountingReader[list[str]]


@dataclass(frozen=True)
class ListFile:
    """One CSV of the import: its name as reported (`export.zip:members.csv`), its file
    name (what recognition reads), and how to open it as text."""

    name: str
    file_name: str
    open: Opener


@dataclass
class Found:
    """A file recognised, and its readers counted by status (first pass)."""

    file: ListFile
    recognised: Recognised
    counts: Counter[str] = field(default_factory=Counter)


@dataclass
class Plan:
    """What the first pass found: the files, those left aside (with why), the errors."""

    found: list[Found] = field(default_factory=list)
    ignored: list[tuple[str, str]] = field(default_factory=list)
    errors: list[tuple[str, int, str]] = field(default_factory=list)


@dataclass
class Written:
    """What the second pass did; `skipped` rows were left alone (an opt-out made here)."""

    added: int = 0
    updated: int = 0
    left: int = 0
    suppressed: int = 0
    unchanged: int = 0
    skipped: list[tuple[str, int, str]] = field(default_factory=list)


def list_files(path: Path) -> list[ListFile]:
    """The CSVs of a zip (in name order), or the file itself."""
    if not zipfile.is_zipfile(path):
        return [ListFile(str(path), path.name, lambda: path.open("rb"))]
    with zipfile.ZipFile(path) as archive:
        names = sorted(n for n in archive.namelist()
                       if n.lower().endswith(".csv") and not n.startswith("__MACOSX/"))
    return [ListFile(f"{path}:{name}", name, _member(path, name)) for name in names]


def _member(path: Path, name: str) -> Opener:
    @contextmanager
    def opener() -> Iterator[IO[bytes]]:
        with zipfile.ZipFile(path) as archive, archive.open(name) as raw:
            yield raw
    return opener


def _decoded(raw: IO[bytes]) -> Iterator[str]:
    """The file's lines as UTF-8 text (a byte order mark dropped), decoded one by one so
    that a line that is not UTF-8 is reported by its number."""
    for number, line in enumerate(raw):
        yield (line.removeprefix(codecs.BOM_UTF8) if number == 0 else line).decode("utf-8")


def _header(raw: IO[bytes], name: str) -> tuple[list[str], CsvReader]:
    """The header row, and a reader positioned after it (separator read from the header)."""
    lines = _decoded(raw)
    try:
        first = next(lines, "")
    except UnicodeDecodeError as exc:
        raise PublisherError(f"{name}:1: not UTF-8 ({exc.reason}); save it as UTF-8") from exc
    reader = csv.reader(chain([first], lines), delimiter=delimiter_of(first))
    try:
        header = next(reader, [])
    except csv.Error as exc:
        raise PublisherError(f"{name}:1: {exc}") from exc
    return header, reader


def _rows(reader: CsvReader, columns: tuple[str, ...], name: str,
          errors: list[tuple[str, int, str]]) -> Iterator[tuple[int, dict[str, str]]]:
    for located in located_rows(reader):
        if isinstance(located, Unreadable):  # the rest of the file cannot be read either
            errors.append((name, located.line, f"not UTF-8 near this line ({located.reason}); "
                           "save the file as UTF-8" if located.not_decoded else located.reason))
            return
        start, cells = located
        if any(cell.strip() for cell in cells):
            yield start, dict(zip(columns, cells, strict=False))


def plan(files: list[ListFile], languages: Sequence[str] = ()) -> Plan:
    """First pass: recognise each file and read every row; nothing is written. A row's
    language must be one of `languages` (the site's)."""
    result = Plan()
    for item in files:
        with item.open() as stream:
            header, reader = _header(stream, item.name)
            recognised = recognise(item.file_name, header)
            if recognised is None:  # a file given alone must be one; a zip may hold others
                (result.errors.append((item.name, 1, _unknown(header))) if len(files) == 1
                 else result.ignored.append((item.name, _unknown(header))))
                continue
            found = Found(item, recognised)
            for _line, row in _read(reader, recognised, item.name, result.errors,
                                    languages):
                found.counts[row.status or PENDING] += 1
            result.found.append(found)
    return result


def _unknown(header: list[str]) -> str:
    shown = ",".join(header[:6]) + (",…" if len(header) > 6 else "")
    known = ", ".join(f.label for f in FORMATS)
    return f"not a subscriber export publisher recognises (header: {shown}); it reads: {known}"


def _read(reader: CsvReader, recognised: Recognised, name: str,
          errors: list[tuple[str, int, str]],
          languages: Sequence[str]) -> Iterator[tuple[int, store.NewRow]]:
    for line, row in _rows(reader, recognised.columns, name, errors):
        try:
            yield line, with_site_language(recognised.format.read(line, row, recognised.hint),
                                           languages)
        except PublisherError as exc:
            errors.append((name, line, str(exc.message)))


def refusal(found: Plan, skip_errors: bool) -> PublisherError | None:
    """Why nothing may be written: rows in error, unless the operator skips them."""
    if not found.errors or skip_errors:
        return None
    return PublisherError(f"{len(found.errors)} row(s) in error: nothing written (correct "
                          "them, or pass --skip-errors to import the other rows)")


def write(engine: Engine, found: list[Found], now: datetime, welcome: bool = False,
          policy: RetryPolicy | None = None, languages: Sequence[str] = ()) -> Written:
    """Second pass: every readable row through the store, in batches (rows in error are
    left out: the caller decided to go on)."""
    policy = policy or RetryPolicy()
    written = Written()
    for item in found:
        source = f"import:{item.recognised.format.name}"
        with item.file.open() as stream:
            _, reader = _header(stream, item.file.name)
            batch: list[store.NewRow] = []
            for _line, row in _read(reader, item.recognised, item.file.name, [], languages):
                batch.append(row)
                if len(batch) >= BATCH:
                    _write_batch(engine, batch, item.file.name, source, now, policy, written,
                                 welcome)
                    batch = []
            if batch:
                _write_batch(engine, batch, item.file.name, source, now, policy, written,
                             welcome)
    return written


def _write_batch(engine: Engine, batch: list[store.NewRow], name: str, source: str,
                 now: datetime, policy: RetryPolicy, written: Written, welcome: bool) -> None:
    joiners = [row for row in batch if row.status not in LEFT]
    leavers = [row for row in batch if row.status in LEFT]

    def transaction() -> tuple[store.Added, store.Departed]:
        with engine.begin() as conn:
            return (store.add_many(conn, joiners, PENDING, Consent(source, now), now,
                                   welcome=welcome),
                    store.record_departures(conn, leavers, now, source))

    added, departed = retry(transaction, policy)
    written.added += added.added
    written.updated += added.refreshed
    written.skipped += [(name, line, why) for line, why in added.skipped + added.rejected]
    written.left += departed.moved
    written.suppressed += departed.suppressed
    written.unchanged += departed.unchanged


def plan_lines(found: Plan) -> list[str]:
    """The dry run's report: each file recognised (readers by status), each left aside."""
    lines = []
    for item in found.found:
        counts = ", ".join(f"{status} {item.counts[status]}" for status in STATUSES)
        lines.append(f"{item.file.name}: {item.recognised.format.label}: {counts}")
    lines += [f"{name}: ignored: {why}" for name, why in found.ignored]
    total = Counter[str]()
    for item in found.found:
        total.update(item.counts)
    lines.append(f"readers: {sum(total.values())} ("
                 + ", ".join(f"{status} {total[status]}" for status in STATUSES)
                 + f"); rows in error: {len(found.errors)}")
    return lines


def written_line(written: Written) -> str:
    return (f"added {written.added}, updated {written.updated}, left {written.left}, "
            f"suppressed {written.suppressed}, unchanged {written.unchanged}, "
            f"skipped {len(written.skipped)}")
