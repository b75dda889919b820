"""`publisher analytics ingest ACCESS_LOG`: the same counts as `serve` makes, from an nginx
access log in the combined format, for sites whose feeds and pages nginx serves itself.

Idempotent by a high-water mark: the counters remember the time of the newest line counted
(publisher.db.log_ingests), and an ingest counts only lines logged after it, then moves it
in the same transaction as the counts. The same log ingested twice, or a log and its
rotated copy, counts each line once. Limits: a log older than the mark is not counted
(ingest logs oldest first), nor are lines logged in the very second the previous ingest
ended on; a fetcher seen in two ingests of one day counts in each (each ingest draws its
own salt and forgets it when it ends).
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
    """Count the lines logged after the mark, and move the mark past them."""
    mark = counters.ingest_mark(engine, SOURCE)
    tally, batch = Tally(zone), Batch()
    read = new = taken = 0
    last = mark
    for hit in parse_lines(lines):
        read += 1
        if mark is not None and hit.at <= mark:
            continue
        new += 1
        taken += tally.add(hit, batch)
        last = hit.at if last is None else max(last, hit.at)
    if last is not None and last != mark:
        counters.add_ingested(engine, batch, SOURCE, last)
    return Ingested(read, new, taken, last)


def ingest_file(engine: Engine, path: Path, zone: ZoneInfo) -> Ingested:
    """Ingest one access log file (UTF-8; bytes that are not are replaced)."""
    with path.open(encoding="utf-8", errors="replace") as lines:
        return ingest_lines(engine, lines, zone)
