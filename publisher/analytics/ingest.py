"""`publisher analytics ingest ACCESS_LOG`: the same counts as `serve` makes, from an nginx
access log in the combined format, for sites whose feeds and pages nginx serves itself.

Idempotent by a high-water mark: the counters remember the time of the newest line counted
and how many lines of that second were (publisher.db.log_ingests); an ingest counts only
the lines after those, then moves the mark in the same transaction as the counts. The same
log ingested twice, a log ingested while nginx still writes its current second, or a log
and its rotated copy: each line counts once. Limits: a log older than the mark is not
counted (ingest logs oldest first); a fetcher seen in two ingests of one day counts in each
(each ingest draws its own salt and forgets it when it ends).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Engine

from publisher.analytics import counters
from publisher.analytics.access_log import parse_lines
from publisher.analytics.counters import IngestMark
from publisher.analytics.tally import Batch, Tally

SOURCE = "access_log"


@dataclass(frozen=True)
class Ingested:
    """What one ingest read and counted."""

    lines: int  # lines in the combined format
    new: int  # of those, logged after the previous ingest's mark
    counted: int  # of those, feed fetches and issue page views counted
    last_at: datetime | None  # the mark now


def ingest_lines(engine: Engine, lines: Iterable[str], zone: ZoneInfo) -> Ingested:
    """Count the lines the mark has not counted (those after its second, and in its second
    those past the lines it counted), and move the mark past them."""
    mark = counters.ingest_mark(engine, SOURCE)
    tally, batch = Tally(zone), Batch()
    read = new = taken = in_marked_second = 0
    moved = mark
    for hit in parse_lines(lines):
        read += 1
        if mark is not None and hit.at <= mark.last_at:
            in_marked_second += hit.at == mark.last_at
            if hit.at < mark.last_at or in_marked_second <= mark.lines_at_last:
                continue
        new += 1
        taken += tally.add(hit, batch)
        if moved is None or hit.at > moved.last_at:
            moved = IngestMark(hit.at, 1)
        elif hit.at == moved.last_at:
            moved = IngestMark(hit.at, moved.lines_at_last + 1)
    if moved is not None and moved != mark:
        counters.add_ingested(engine, batch, SOURCE, moved)
    return Ingested(read, new, taken, None if moved is None else moved.last_at)


def ingest_file(engine: Engine, path: Path, zone: ZoneInfo) -> Ingested:
    """Ingest one access log file (UTF-8; bytes that are not are replaced)."""
    with path.open(encoding="utf-8", errors="replace") as lines:
        return ingest_lines(engine, lines, zone)
