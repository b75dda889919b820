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
import sys
import tempfile
import zipfile
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.import_harness import Run, parse_args, rate, run_child, table, timed, write_plain_csv  # noqa: E402

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


def measure(mode: str, source: Path, db_path: Path) -> Run:
    from publisher.db import open_database
    from publisher.subscribers.csv_files import import_csv
    from publisher.subscribers.tool_import import list_files, plan, write

    engine = open_database(f"sqlite:///{db_path}")

    def tool_import() -> int:
        found = plan(list_files(source))
        if found.errors:
            raise SystemExit(f"bench file in error: {found.errors[:3]}")
        written = write(engine, found.found, NOW)
        return written.added + written.suppressed

    def csv_import() -> int:
        with source.open(encoding="utf-8", newline="") as stream:
            return import_csv(engine, stream, "confirmed", NOW).added

    return timed(tool_import if mode == "tool" else csv_import)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    args = parse_args(parser, measure)
    if args is None:
        return
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        archive, plain = root / "mailchimp.zip", root / "plain.csv"
        write_mailchimp(archive, args.rows)
        write_plain_csv(plain, args.rows)
        tool = run_child(__file__, "tool", archive, root / "tool.db")
        csv_run = run_child(__file__, "csv", plain, root / "csv.db")
    print(table([("publisher import (Mailchimp zip, two passes)", tool),
                 ("subscribers import (email,name,tags CSV)", csv_run)]))
    print(f"rate publisher import / subscribers import = {rate(tool) / rate(csv_run):.2f}x; "
          f"peak RSS ratio = {tool['peak_mb'] / csv_run['peak_mb']:.2f}x")


if __name__ == "__main__":
    main()
