"""One `publisher run --worker --once` with its SQL counted, for bench/postgres_workers.py:
a SQLAlchemy `after_cursor_execute` listener counts each statement the server runs, by kind,
with the cursor calls (round trips: an executemany is one) and rows they touched, and the
transactions committed; at the end the tally and the process's CPU (its own and its reaped
sender processes') go to a JSON file. Nothing in publisher knows it is measured.

This script imports publisher only after the listener is in place, and from wherever
Python finds it first: PYTHONPATH can point the workers at another checkout (a `git
archive` of an older commit) for a before/after comparison in one run.

    python bench/worker_tally.py CONFIG OUT.json
"""

from __future__ import annotations

import json
import resource
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

KINDS = (  # (what the statement contains, its name), first match wins
    ("FOR UPDATE SKIP LOCKED", "claim (UPDATE … RETURNING, SKIP LOCKED)"),
    ("AS settled", "record results (one UPDATE … FROM the batch)"),
    ("last_reply=", "record results (UPDATE per row)"),
    ("FROM subscribers", "subscriber statuses (suppressed)"),
    ("count(*)", "counts (progress, finished?)"),
    ("DISTINCT deliveries.claimed_by", "dead local workers"),
    ("deliveries.lost_claims, deliveries.claimed_by", "rows to set aside (lost claims)"),
    ("FROM sends", "send state"),
)


def kind_of(statement: str) -> str:
    for marker, name in KINDS:
        if marker in statement:
            return name
    return "other: " + " ".join(statement.split())[:60]


@dataclass
class Tally:
    """What one worker process asked of the database."""

    statements: Counter[str] = field(default_factory=Counter)  # run by the server, by kind
    calls: Counter[str] = field(default_factory=Counter)  # cursor calls (an executemany: one)
    rows: Counter[str] = field(default_factory=Counter)  # rows each kind touched
    transactions: int = 0

    def executed(self, _conn: Any, cursor: Any, statement: str, parameters: Any,
                 _context: Any, executemany: bool) -> None:
        kind = kind_of(statement)
        self.statements[kind] += len(parameters) if executemany else 1
        self.calls[kind] += 1
        self.rows[kind] += max(0, cursor.rowcount)

    def committed(self, _conn: Any) -> None:
        self.transactions += 1


def main(config_file: str, out: str) -> None:
    tally = Tally()
    sa.event.listen(sa.engine.Engine, "after_cursor_execute", tally.executed)
    sa.event.listen(sa.engine.Engine, "commit", tally.committed)
    from publisher.cli import main as cli

    try:
        cli.main(["--config", config_file, "run", "--worker", "--once"],
                 standalone_mode=False)
    finally:
        Path(out).write_text(json.dumps({
            "statements": tally.statements, "calls": tally.calls, "rows": tally.rows,
            "transactions": tally.transactions, "cpu": _cpu(resource.RUSAGE_SELF),
            "children_cpu": _cpu(resource.RUSAGE_CHILDREN)}), encoding="utf-8")


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main(*sys.argv[1:3])
