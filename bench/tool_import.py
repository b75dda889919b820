"""`publisher import` speed and memory: a Mailchimp audience export of N rows (subscribed,
with a share of unsubscribed and cleaned rows in their own files, in one zip) into SQLite,
against `subscribers import` of an `email,name,tags` CSV of as many rows, in this run.

    .venv/bin/python bench/tool_import.py [--rows 100000]

Each import runs in a child process of its own, so peak RSS is that import's.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import UTC, datetime
from pathlib import Path

NOW = datetime(2024, 6, 1, tzinfo=UTC)
HEADER = ["Email Address", "First Name", "Last Name", "Address", "Phone Number",
          "MEMBER_RATING", "OPTIN_TIME", "OPTIN_IP", "CONFIRM_TIME", "CONFIRM_IP", "LATITUDE",
          "LONGITUDE", "GMTOFF", "DSTOFF", "TIMEZONE", "CC", "REGION", "LAST_CHANGED", "LEID",
          "EUID", "NOTES", "TAGS"]
LEFT_EVERY = 20  # one row in 20 left: unsubscribed or cleaned, in its own file


def write_mailchimp(path: Path, rows: int) -> None:
    files: dict[str, list[int]] = {"subscribed": [], "unsubscribed": [], "cleaned": []}
    for n in range(rows):
        kind = "subscribed" if n % LEFT_EVERY else ("unsubscribed", "cleaned")[n % 2]
        files[kind].append(n)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for kind, numbers in files.items():
            extra = {"unsubscribed": ["UNSUB_TIME"], "cleaned": ["CLEAN_TIME"]}.get(kind, [])
            with archive.open(f"{kind}_members_export_bench.csv", "w") as raw, \
                    io.TextIOWrapper(raw, encoding="utf-8", newline="") as text:
                writer = csv.writer(text, lineterminator="\r\n")
                writer.writerow(HEADER[:-4] + extra + HEADER[-4:])
                for n in numbers:
                    writer.writerow(_mailchimp_row(n) + (["2023-04-01 12:00:00"] if extra else [])
                                    + [str(n), f"e{n}", "", '"weekly","llm, ai"'])


def _mailchimp_row(n: int) -> list[str]:
    return [f"reader{n}@example{n % 97}.org", f"Reader{n}", "Bench", "", "", "2",
            "2021-03-04 10:11:12", "198.51.100.7", "2021-03-04 10:15:00", "198.51.100.7",
            "", "", "", "", "", "", "", "2023-05-01 08:00:00"]


def write_plain(path: Path, rows: int) -> None:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["email", "name", "tags"])
        for n in range(rows):
            writer.writerow([f"reader{n}@example{n % 97}.org", f"Reader {n}", "weekly,llm"])


def measure(mode: str, source: Path, db_path: Path) -> dict[str, float]:
    from publisher.db import open_database
    from publisher.subscribers.csv_files import import_csv
    from publisher.subscribers.tool_import import list_files, plan, write

    engine = open_database(f"sqlite:///{db_path}")
    start = time.perf_counter()
    if mode == "tool":
        found = plan(list_files(source))
        if found.errors:
            raise SystemExit(f"bench file in error: {found.errors[:3]}")
        written = write(engine, found.found, NOW)
        rows = written.added + written.suppressed
    else:
        with source.open(encoding="utf-8", newline="") as stream:
            rows = import_csv(engine, stream, "confirmed", NOW).added
    seconds = time.perf_counter() - start
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"rows": rows, "seconds": seconds, "peak_mb": peak_mb}


def run_child(mode: str, source: Path, db_path: Path) -> dict[str, float]:
    output = subprocess.run([sys.executable, __file__, "--child", mode, str(source),
                             str(db_path)], check=True, capture_output=True, text=True).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--child", nargs=3, metavar=("MODE", "SOURCE", "DB"))
    args = parser.parse_args()
    if args.child:
        mode, source, db_path = args.child
        print(json.dumps(measure(mode, Path(source), Path(db_path))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        archive, plain = root / "mailchimp.zip", root / "plain.csv"
        write_mailchimp(archive, args.rows)
        write_plain(plain, args.rows)
        tool = run_child("tool", archive, root / "tool.db")
        csv_run = run_child("csv", plain, root / "csv.db")
    tool_rate = tool["rows"] / tool["seconds"]
    csv_rate = csv_run["rows"] / csv_run["seconds"]
    print(f"{'run':<52} {'rows':>8} {'seconds':>8} {'rows/s':>9} {'peak MB':>8}")
    print(f"{'publisher import (Mailchimp zip, two passes)':<52} {tool['rows']:>8.0f} "
          f"{tool['seconds']:>8.2f} {tool_rate:>9.0f} {tool['peak_mb']:>8.1f}")
    print(f"{'subscribers import (email,name,tags CSV)':<52} {csv_run['rows']:>8.0f} "
          f"{csv_run['seconds']:>8.2f} {csv_rate:>9.0f} {csv_run['peak_mb']:>8.1f}")
    print(f"rate publisher import / subscribers import = {tool_rate / csv_rate:.2f}x; "
          f"peak RSS ratio = {tool['peak_mb'] / csv_run['peak_mb']:.2f}x")


if __name__ == "__main__":
    main()
