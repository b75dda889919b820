"""CSV import and export of subscribers, streamed: memory stays flat for any file size.

An import never undoes an opt-out, a bounce or a complaint: such rows are skipped and
reported by line, like rejected ones. A file with the export's columns (`status`, `consent_at`
and the rest of EXPORT_FIELDS) brings each new subscriber back with its status, timestamps
and consent record. The separator (comma, semicolon or tab) is read from the header line;
a row that is not in the file's encoding is reported by line and the others still land.
A tags cell holds words separated by commas, semicolons or spaces (a tag is one word, as an
audience names it); a tag no audience could name (a parenthesis, and/or/not) refuses its row.
A `language` cell (a BCP 47 tag) must name one of the site's `[site] languages`, else its
row is refused; an empty one leaves the reader in the site's language.
Exported cells that a spreadsheet would run as a formula start with a single quote.
"""

from __future__ import annotations

import codecs
import csv
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

from sqlalchemy.engine import Engine

from publisher.config import tag_name
from publisher.errors import PublisherError
from publisher.outage import RetryPolicy, retry
from publisher.subscribers import store
from publisher.subscribers.addresses import normalise_address, normalise_name
from publisher.subscribers.languages import with_site_language
from publisher.subscribers.store import CONFIRMED, PENDING, STATUSES, Consent

EXPORT_FIELDS = ["email", "name", "status", "tags", "created_at", "confirmed_at",
                 "unsubscribed_at", "consent_at", "consent_source", "consent_ip",
                 "consent_user_agent", "bounce_count", "bounced_at", "complained_at",
                 "language"]
RESTORED_TIMES = ("created_at", "confirmed_at", "unsubscribed_at", "bounced_at",
                  "complained_at")
BATCH = 1000
DELIMITERS = (",", ";", "\t")  # comma first: it wins a tie
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # OWASP's CSV injection list
TAG_SEPARATORS = re.compile(r"[\s,;]+")


Row = TypeVar("Row", covariant=True)


class LineCountingReader(Protocol[Row]):
    """csv.reader's or csv.DictReader's object: iterates rows and counts `line_num`."""

    line_num: int

    def __next__(self) -> Row: ...


@dataclass(frozen=True)
class Unreadable:
    """Why the rest of a CSV file cannot be read, from the line where the bad row began."""

    line: int
    reason: str
    not_decoded: bool  # the bytes are not in the file's encoding (else: malformed CSV)


def located_rows(reader: LineCountingReader[Row]) -> Iterator[tuple[int, Row] | Unreadable]:
    """Each row with the line where it began (a quoted field may span lines); an
    Unreadable ends the file (after a csv.Error or a UnicodeDecodeError nothing more can be
    read)."""
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Unreadable(start, str(exc), not_decoded=False)
            return
        except UnicodeDecodeError as exc:
            yield Unreadable(start, str(exc.reason), not_decoded=True)
            return
        yield start, row


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)  # (line, reason): left alone
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)


def open_csv(path: Path, encoding: str = "utf-8") -> IO[str]:
    """Open a file for `import_csv`: bytes that are not `encoding` are kept (as surrogate
    escapes) so that their rows are reported by line; a UTF-8 byte order mark is dropped."""
    codec = codecs.lookup(encoding).name
    return path.open(encoding="utf-8-sig" if codec == "utf-8" else codec,
                     errors="surrogateescape", newline="")


def import_csv(engine: Engine, stream: IO[str], status: str, now: datetime,
               source: str = "import", policy: RetryPolicy | None = None,
               name: str = "CSV", welcome: bool = False,
               languages: Sequence[str] = ()) -> ImportReport:
    """Idempotent: a known address is refreshed, not duplicated; bad rows are reported by line.

    Rows are committed in batches; a bad row never rolls back the good ones around it, and
    a batch whose transaction meets a database outage is tried again (within `policy`).
    `status` is pending or confirmed; an exported `confirmed` row stays confirmed only when
    `status` is confirmed too. `name` (the file's) starts the errors that stop the import.
    Confirmed rows enter the automations (welcome and later steps) only with `welcome`.
    A row's `language` must be one of `languages` (the site's).
    """
    policy = policy or RetryPolicy()
    report = ImportReport()
    consent = Consent(source, now)
    encoding = _codec(stream)
    batch: list[tuple[int, dict[str, str]]] = []
    reading = Reading(status, consent, encoding, tuple(languages))
    for numbered in _rows(stream, name, encoding):
        batch.append(numbered)
        if len(batch) >= BATCH:
            _import_batch(engine, batch, reading, now, report, policy, welcome)
            batch = []
    if batch:
        _import_batch(engine, batch, reading, now, report, policy, welcome)
    return report


@dataclass(frozen=True)
class Reading:
    """How an import reads its rows: the status and consent they get, the file's encoding,
    and the site's languages a `language` cell may name."""

    status: str
    consent: Consent
    encoding: str
    languages: tuple[str, ...]


def _codec(stream: IO[str]) -> str:
    codec = codecs.lookup(getattr(stream, "encoding", None) or "utf-8").name
    return "utf-8" if codec == "utf-8-sig" else codec


def _rows(stream: IO[str], name: str, encoding: str) -> Iterator[tuple[int, dict[str, str]]]:
    try:
        header = stream.readline()
    except UnicodeDecodeError as exc:
        raise PublisherError(f"{name}:1: not {_label(encoding)} ({exc.reason})") from exc
    reader = csv.DictReader(chain([header], stream), delimiter=delimiter_of(header))
    if reader.fieldnames is None or "email" not in [f.strip().lower() for f in reader.fieldnames]:
        raise PublisherError(f"{name}:1: a header row with an 'email' column is required")
    for located in located_rows(reader):
        if isinstance(located, Unreadable):  # not decoded: a stream opened strictly
            raise PublisherError(f"{name}:{located.line}: " + (
                f"not {_label(encoding)} near this line ({located.reason})"
                if located.not_decoded else located.reason))
        start, row = located
        clean = {(k or "").strip().lower(): (v or "") for k, v in row.items() if k is not None}
        yield start, clean


def delimiter_of(header: str) -> str:
    """The separator that splits the header line into the most columns."""
    return max(DELIMITERS, key=lambda d: len(next(csv.reader([header], delimiter=d), [])))


def _import_batch(engine: Engine, batch: list[tuple[int, dict[str, str]]], reading: Reading,
                  now: datetime, report: ImportReport, policy: RetryPolicy,
                  welcome: bool) -> None:
    """Validate in Python (a bad row is reported, never written), then add the rest in bulk."""
    valid: list[store.NewRow] = []
    for line, row in batch:
        try:
            valid.append(with_site_language(
                new_row(line, row, reading.status, reading.consent.source, reading.encoding),
                reading.languages))
        except PublisherError as exc:
            report.rejected.append((line, str(exc.message)))

    def write() -> store.Added:
        with engine.begin() as conn:
            return store.add_many(conn, valid, reading.status, reading.consent, now, welcome)

    added = retry(write, policy)
    report.added += added.added
    report.updated += added.refreshed
    report.skipped.extend(added.skipped)
    report.rejected.extend(added.rejected)
    report.rejected.sort()


def new_row(line: int, row: dict[str, str], status: str, source: str,
             encoding: str) -> store.NewRow:
    """A validated row; with the export's columns, its own status, times and consent. Its
    `language` is the cell as written: `with_site_language` checks it against the site's."""
    for column in EXPORT_FIELDS:
        if _undecoded(row.get(column, "")):
            raise PublisherError(_not_decoded(row[column], column, encoding))
    tags = _tags(row.get("tags", ""))
    address = normalise_address(row.get("email", ""))
    name = normalise_name(row.get("name"))
    language = row.get("language", "").strip() or None
    if "status" not in row and "consent_at" not in row:
        return store.NewRow(line, address, name, tags, language=language)
    exported = row.get("status", "").strip().lower()
    if exported and exported not in STATUSES:
        raise PublisherError(f"status: {exported!r} is not one of {', '.join(STATUSES)}")
    wanted = exported or status
    restored: dict[str, datetime | int] = {
        column: _when(column, row[column]) for column in RESTORED_TIMES if row.get(column)}
    if wanted == CONFIRMED and status != CONFIRMED:  # only --confirmed vouches for consent
        wanted = PENDING
        restored.pop("confirmed_at", None)
    if row.get("bounce_count", "").strip():
        restored["bounce_count"] = _count("bounce_count", row["bounce_count"])
    consent = None
    if row.get("consent_at"):
        consent = Consent(row.get("consent_source") or source,
                          _when("consent_at", row["consent_at"]),
                          row.get("consent_ip") or None, row.get("consent_user_agent") or None)
    return store.NewRow(line, address, name, tags, wanted, consent, restored,
                        language=language)


def _tags(cell: str) -> tuple[str, ...]:
    """The tags of a cell: `llm weekly-off`, `llm,weekly-off` and `llm; weekly-off` are the
    same two tags; PublisherError for a tag no audience expression could name."""
    try:
        return tuple(tag_name(tag) for tag in TAG_SEPARATORS.split(cell) if tag)
    except ValueError as exc:
        raise PublisherError(f"tags: {exc}") from exc


def _when(column: str, text: str) -> datetime:
    """An exported time: ISO 8601; one without a zone is taken as UTC, as it is stored."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise PublisherError(f"{column}: {text!r} is not an ISO 8601 date and time") from exc
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _count(column: str, text: str) -> int:
    if not text.strip().isdigit():
        raise PublisherError(f"{column}: {text!r} is not a whole number")
    return int(text)


def _undecoded(text: str) -> bool:
    return any("\udc80" <= c <= "\udcff" for c in text)


def _not_decoded(cell: str, column: str, encoding: str) -> str:
    """Which bytes could not be read, and how to read them."""
    raw = cell.encode(encoding, "surrogateescape")
    bad = bytes(ord(c) - 0xDC00 for c in cell if "\udc80" <= c <= "\udcff")
    found = f"not {_label(encoding)} ({column}: bytes {bad[:6].hex(' ')})"
    guess = _guess(raw)
    if guess == encoding:
        return f"{found}; save it as UTF-8, or pass the --encoding it was saved in"
    return f"{found}; save it as UTF-8 or pass --encoding {guess}"


def _guess(raw: bytes) -> str:
    """The likelier legacy encoding: GBK if the text reads as Chinese words, else cp1252
    (Western European; cp1252 agrees with Latin-1 on every letter)."""
    try:
        text = raw.decode("gbk")
    except UnicodeDecodeError:
        return "cp1252"
    wide = [i for i, c in enumerate(text) if not c.isascii()]
    if any(not "\u3000" <= text[i] <= "\u9fff" and not "\uff00" <= text[i] <= "\uffef"
           for i in wide):
        return "cp1252"
    # an accented letter inside a Latin word ("Müller") also decodes as GBK, next to letters
    touching = any(0 <= j < len(text) and text[j].isascii() and text[j].isalpha()
                   for i in wide for j in (i - 1, i + 1))
    return "cp1252" if touching else "gbk"


def _label(codec: str) -> str:
    return "UTF-8" if codec == "utf-8" else codec


def export_csv(engine: Engine, stream: IO[str], status: str | None = None) -> int:
    writer = csv.DictWriter(stream, fieldnames=EXPORT_FIELDS)
    writer.writeheader()
    count = 0
    for row in store.iter_all(engine, status):
        writer.writerow({name: neutralise(_cell(getattr(row, name)))
                         for name in EXPORT_FIELDS})
        count += 1
    return count


def neutralise(cell: str) -> str:
    """A cell a spreadsheet would run as a formula gets a leading single quote (OWASP)."""
    return "'" + cell if cell.startswith(FORMULA_STARTS) else cell


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)
