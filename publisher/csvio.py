"""CSV import and export of subscribers, streamed: memory stays flat for any file size."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any

from sqlalchemy.engine import Engine

from publisher import subscribers
from publisher.addresses import normalise_address, normalise_name
from publisher.errors import PublisherError
from publisher.outage import RetryPolicy, retry
from publisher.subscribers import Consent

EXPORT_FIELDS = ["email", "name", "status", "tags", "created_at", "confirmed_at",
                 "unsubscribed_at", "consent_at", "consent_source", "consent_ip",
                 "consent_user_agent", "bounce_count"]
BATCH = 1000


@dataclass
class ImportReport:
    added: int = 0
    updated: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)


def _rows(stream: IO[str]) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(stream)
    if reader.fieldnames is None or "email" not in [f.strip().lower() for f in reader.fieldnames]:
        raise PublisherError("CSV line 1: a header row with an 'email' column is required")
    while True:
        start = reader.line_num + 1  # a quoted field may span lines: report where it began
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise PublisherError(f"CSV line {start}: {exc}") from exc
        clean = {(k or "").strip().lower(): (v or "") for k, v in row.items() if k is not None}
        yield start, clean


def import_csv(engine: Engine, stream: IO[str], status: str, now: datetime,
               source: str = "import", policy: RetryPolicy | None = None) -> ImportReport:
    """Idempotent: a known address is refreshed, not duplicated; bad rows are reported by line.

    Rows are committed in batches; a bad row never rolls back the good ones around it, and
    a batch whose transaction meets a database outage is tried again (within `policy`).
    """
    policy = policy or RetryPolicy()
    report = ImportReport()
    consent = Consent(source, now)
    batch: list[tuple[int, dict[str, str]]] = []
    for numbered in _rows(stream):
        batch.append(numbered)
        if len(batch) >= BATCH:
            _import_batch(engine, batch, status, consent, now, report, policy)
            batch = []
    if batch:
        _import_batch(engine, batch, status, consent, now, report, policy)
    return report


def _import_batch(engine: Engine, batch: list[tuple[int, dict[str, str]]], status: str,
                  consent: Consent, now: datetime, report: ImportReport,
                  policy: RetryPolicy) -> None:
    """Validate in Python (a bad row is reported, never written), then add the rest in bulk."""
    valid: list[subscribers.NewRow] = []
    for line, row in batch:
        tags = tuple(t.strip() for t in row.get("tags", "").replace(";", ",").split(",")
                     if t.strip())
        try:
            address = normalise_address(row.get("email", ""))
            name = normalise_name(row.get("name"))
        except PublisherError as exc:
            report.rejected.append((line, str(exc.message)))
            continue
        valid.append(subscribers.NewRow(line, address, name, tags))

    def write() -> tuple[int, int, list[tuple[int, str]]]:
        with engine.begin() as conn:
            return subscribers.add_many(conn, valid, status, consent, now)

    added, refreshed, rejected = retry(write, policy)
    report.added += added
    report.updated += refreshed
    report.rejected.extend(rejected)
    report.rejected.sort()


def export_csv(engine: Engine, stream: IO[str], status: str | None = None) -> int:
    writer = csv.DictWriter(stream, fieldnames=EXPORT_FIELDS)
    writer.writeheader()
    count = 0
    for row in subscribers.iter_all(engine, status):
        writer.writerow({name: _cell(getattr(row, name)) for name in EXPORT_FIELDS})
        count += 1
    return count


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)
