"""What the import benches share: the plain `email,name,tags` CSV they write, one import
timed in a child process of its own (so peak RSS is that import's), and the result table."""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

Run = dict[str, float]  # rows, seconds, peak_mb


def write_plain_csv(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["email", "name", "tags"])
        for n in range(rows):
            writer.writerow([f"reader{n}@example{n % 97}.org", f"Reader {n}", "weekly,llm"])


def timed(run: Callable[[], int]) -> Run:
    """Time `run` (which returns how many rows it imported) and read this process's peak RSS."""
    start = time.perf_counter()
    rows = run()
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"rows": rows, "seconds": seconds, "peak_mb": peak_mb}


def run_child(script: str, mode: str, source: Path, db_path: Path) -> Run:
    """Run `script --child MODE SOURCE DB` and read the JSON line it prints last."""
    output = subprocess.run([sys.executable, script, "--child", mode, str(source),
                             str(db_path)], check=True, capture_output=True, text=True).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


def parse_args(parser: argparse.ArgumentParser,
               measure: Callable[[str, Path, Path], Run]) -> argparse.Namespace | None:
    """The bench's options; None when this process is a `--child MODE SOURCE DB` run, which
    prints its measure as one JSON line."""
    parser.add_argument("--child", nargs=3, metavar=("MODE", "SOURCE", "DB"))
    args = parser.parse_args()
    if not args.child:
        return args
    mode, source, db_path = args.child
    print(json.dumps(measure(mode, Path(source), Path(db_path))))
    return None


def rate(run: Run) -> float:
    return run["rows"] / run["seconds"]


def table(rows: list[tuple[str, Run]]) -> str:
    """One line per run: label, rows, seconds, rows/s and peak MB."""
    width = max(len(label) for label, _ in rows) + 2
    lines = [f"{'run':<{width}} {'rows':>8} {'seconds':>8} {'rows/s':>9} {'peak MB':>8}"]
    lines += [f"{label:<{width}} {run['rows']:>8.0f} {run['seconds']:>8.2f} {rate(run):>9.0f} "
              f"{run['peak_mb']:>8.1f}" for label, run in rows]
    return "\n".join(lines)
