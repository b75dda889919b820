"""CSV import speed and memory: publisher's streaming, batched import of N rows into SQLite,
against a naive baseline (one transaction per row) on a sample, measured in this run; and
the same import again with a webhook that wants every `confirmed` event (one event row and
one delivery row per reader, written in the import's transactions).

    python bench/import_csv.py [--rows 100000] [--baseline-rows 2000]
"""

from __future__ import annotations

import argparse
import csv
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.import_harness import Run, parse_args, rate, run_child, table, timed, write_plain_csv  # noqa: E402

NOW = datetime(2024, 6, 1, tzinfo=UTC)


def measure(mode: str, csv_path: Path, db_path: Path) -> Run:
    from publisher import events
    from publisher.db import open_database
    from publisher.subscribers import store
    from publisher.subscribers.csv_files import import_csv

    engine = open_database(f"sqlite:///{db_path}")
    if mode == "webhook":
        with engine.begin() as conn:
            events.sync_endpoints(conn, [("https://hooks.example.org/", [events.CONFIRMED])])

    def publisher_import() -> int:
        with csv_path.open(encoding="utf-8", newline="") as stream:
            return import_csv(engine, stream, "confirmed", NOW).added

    def naive_import() -> int:  # one transaction per row
        rows = 0
        with csv_path.open(encoding="utf-8", newline="") as stream:
            for row in csv.DictReader(stream):
                with engine.begin() as conn:
                    store.add(conn, row["email"], row["name"], "confirmed",
                              store.Consent("import", NOW), NOW)
                rows += 1
        return rows

    return timed(naive_import if mode == "naive" else publisher_import)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--baseline-rows", type=int, default=2_000)
    args = parse_args(parser, measure)
    if args is None:
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        big, small = root / "big.csv", root / "small.csv"
        write_plain_csv(big, args.rows)
        write_plain_csv(small, args.baseline_rows)
        fast = run_child(__file__, "publisher", big, root / "fast.db")
        naive = run_child(__file__, "naive", small, root / "naive.db")
        hooked = run_child(__file__, "webhook", big, root / "hooked.db")
    print(table([("publisher import (streamed, 1000-row batches)", fast),
                 ("naive baseline (one transaction per row)", naive),
                 ("publisher import, a webhook wanting `confirmed`", hooked)]))
    print(f"speed-up publisher/naive = {rate(fast) / rate(naive):.1f}x")


if __name__ == "__main__":
    main()
