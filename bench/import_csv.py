"""CSV import speed and memory: publisher's streaming, batched import of N rows into SQLite,
against a naive baseline (one transaction per row) on a sample, measured in this run.

    python bench/import_csv.py [--rows 100000] [--baseline-rows 2000]
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

NOW = datetime(2024, 6, 1, tzinfo=UTC)


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["email", "name", "tags"])
        for n in range(rows):
            writer.writerow([f"reader{n}@example{n % 97}.org", f"Reader {n}", "weekly,llm"])


def measure(mode: str, csv_path: Path, db_path: Path) -> dict[str, float]:
    from publisher.db import open_database
    from publisher.subscribers import store
    from publisher.subscribers.csv_files import import_csv

    engine = open_database(f"sqlite:///{db_path}")
    start = time.perf_counter()
    with csv_path.open(encoding="utf-8", newline="") as stream:
        if mode == "publisher":
            report = import_csv(engine, stream, "confirmed", NOW)
            rows = report.added
        else:  # naive: one transaction per row
            rows = 0
            for row in csv.DictReader(stream):
                with engine.begin() as conn:
                    store.add(conn, row["email"], row["name"], "confirmed",
                                    store.Consent("import", NOW), NOW)
                rows += 1
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"rows": rows, "seconds": seconds, "peak_mb": peak_mb}


def run_child(mode: str, csv_path: Path, db_path: Path) -> dict[str, float]:
    output = subprocess.run([sys.executable, __file__, "--child", mode, str(csv_path),
                             str(db_path)], check=True, capture_output=True, text=True).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--baseline-rows", type=int, default=2_000)
    parser.add_argument("--child", nargs=3, metavar=("MODE", "CSV", "DB"))
    args = parser.parse_args()
    if args.child:
        mode, csv_path, db_path = args.child
        print(json.dumps(measure(mode, Path(csv_path), Path(db_path))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        big, small = root / "big.csv", root / "small.csv"
        write_csv(big, args.rows)
        write_csv(small, args.baseline_rows)
        fast = run_child("publisher", big, root / "fast.db")
        naive = run_child("naive", small, root / "naive.db")
    fast_rate = fast["rows"] / fast["seconds"]
    naive_rate = naive["rows"] / naive["seconds"]
    print(f"{'run':<44} {'rows':>8} {'seconds':>8} {'rows/s':>9} {'peak MB':>8}")
    print(f"{'publisher import (streamed, 1000-row batches)':<44} {fast['rows']:>8.0f} "
          f"{fast['seconds']:>8.2f} {fast_rate:>9.0f} {fast['peak_mb']:>8.1f}")
    print(f"{'naive baseline (one transaction per row)':<44} {naive['rows']:>8.0f} "
          f"{naive['seconds']:>8.2f} {naive_rate:>9.0f} {naive['peak_mb']:>8.1f}")
    print(f"speed-up publisher/naive = {fast_rate / naive_rate:.1f}x")


if __name__ == "__main__":
    main()
