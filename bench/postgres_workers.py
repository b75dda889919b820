"""d1 and d2 on their own, and where their CPU goes: 1 and then 2 `publisher run --worker
--once` processes on PostgreSQL, each with `sender_processes = 1` and 16 connections, draining
one send of N readers into Postfix's smtp-sink (DKIM rsa-2048, the seed edition, as in
bench/send.py).

For each run it prints the rate, d2/d1, and per message sent: the CPU of the workers'
outbox processes, of their sender processes, of PostgreSQL (the postmaster and every backend
and helper, from /proc) and of smtp-sink, against what the cores offer; and the database's
share: SQL statements, round trips and transactions per message, by kind, and rows claimed
and recorded per second and per statement. Each worker counts its own statements
(bench/worker_tally.py runs the ordinary CLI with a SQLAlchemy listener in place).

`--code DIR` runs the workers on another checkout of the package (DIR holds `publisher/`,
e.g. `git archive <commit> publisher | tar -x -C DIR`), and `--both` runs each count with
it and with this checkout in turn (old, new, new, old), for a before/after in one run.

    python bench/postgres_workers.py [--subscribers 20000] [--workers 1 2]
    python bench/postgres_workers.py --code /tmp/before --both
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.send import process_cpu, queued_send  # noqa: E402
from tests.servers import PostgresServer, postgres_server, smtp_sink_process  # noqa: E402

CORES = os.cpu_count() or 1
TALLY = Path(__file__).resolve().parent / "worker_tally.py"
TICK = os.sysconf("SC_CLK_TCK")
def _stat(pid: int) -> list[str]:
    text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    return text[text.rindex(")") + 2:].split()  # fields from the third (state) on


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat(int(entry.name))[1]) == pid:
                    found.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return found


ENDED = "sessions ended and the postmaster"


def tree_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of a process tree by process title: the process itself with every child
    it has reaped (for PostgreSQL's postmaster: the sessions that ended, autovacuum workers)
    under ENDED, and each live child (checkpointer, WAL writer, a session) under its own."""
    fields = _stat(pid)
    found = {ENDED: sum(int(fields[n]) for n in (11, 12, 13, 14)) / TICK}  # u/s, cu/cs
    for child in _children(pid):
        try:
            cpu = process_cpu(child)
            title = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")[0].decode()
        except OSError:
            continue
        name = "sessions still open" if "127.0.0.1" in title else title
        found[name] = found.get(name, 0.0) + cpu
    return found


def used(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before.get(name, 0.0) for name in after}


def postmaster(server: PostgresServer) -> int:
    return int((server.data / "postmaster.pid").read_text(encoding="ascii").split()[0])


@dataclass(frozen=True)
class Run:
    code: str  # the checkout the workers ran
    workers: int
    sent: int
    seconds: float
    outbox_cpu: float  # the workers' own processes: claims, results, their loops and pipes
    sender_cpu: float  # their sender processes
    postgres_parts: dict[str, float]  # CPU seconds by process title
    sink_cpu: float
    statements: Counter[str]
    calls: Counter[str]
    rows: Counter[str]
    transactions: int

    @property
    def postgres_cpu(self) -> float:
        return sum(self.postgres_parts.values())

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


def drain_with(server: PostgresServer, port: int, sink: int, count: int, workers: int,
               code: str | None = None) -> Run:
    """Start a send of `count` readers, then time `workers` worker processes (on the
    package in `code`, else this checkout's) draining it into the smtp-sink process `sink`
    listening on `port`."""
    from publisher.sending import outbox

    database = f"bench_{workers}_workers_{time.monotonic_ns()}"
    with queued_send(server, port, count, database) as queued:
        root, engine, send_id, env = queued.root, queued.engine, queued.send_id, queued.env
        if code is not None:
            env["PYTHONPATH"] = code
        outs = [root / f"worker{n}.json" for n in range(workers)]
        pg = postmaster(server)
        pg_before, sink_before = tree_cpu(pg), process_cpu(sink)
        began = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, str(TALLY), str(queued.config_file), str(out)],
                                  env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for out in outs]
        codes = [proc.wait() for proc in procs]
        seconds = time.perf_counter() - began
        pg_cpu = used(pg_before, tree_cpu(pg))
        sink_cpu = process_cpu(sink) - sink_before
        sent = outbox.counts(engine, send_id)[outbox.SENT]
        tallies = [json.loads(out.read_text(encoding="utf-8")) for out in outs]
    if sent != count or any(codes):
        print(f"warning: {workers} worker(s) sent {sent:,} of {count:,}, exit codes {codes}",
              file=sys.stderr)
    return Run(code or "this checkout", workers, sent, seconds, sum(t["cpu"] for t in tallies),
               sum(t["children_cpu"] for t in tallies), pg_cpu, sink_cpu,
               sum((Counter(t["statements"]) for t in tallies), Counter()),
               sum((Counter(t["calls"]) for t in tallies), Counter()),
               sum((Counter(t["rows"]) for t in tallies), Counter()),
               sum(t["transactions"] for t in tallies))


def cpu_lines(run: Run) -> list[str]:
    """Where the cores' time went per message sent."""
    per = 1e6 / max(1, run.sent)
    offered = run.seconds * CORES * per
    parts = [("sender processes (build, DKIM, SMTP)", run.sender_cpu * per),
             ("workers' outbox processes (claims, results, loop, pipes)", run.outbox_cpu * per),
             ("PostgreSQL (all its processes)", run.postgres_cpu * per),
             *((f"  of which {name}", seconds * per)
               for name, seconds in sorted(run.postgres_parts.items(), key=lambda p: -p[1])
               if seconds * per >= 1),
             ("smtp-sink", run.sink_cpu * per)]
    lines = [f"    {label:<58} {value:>7,.0f} µs" for label, value in parts]
    rest = offered - sum(value for label, value in parts if not label.startswith(" "))
    lines += [f"    {'idle and other load (remainder)':<58} {rest:>7,.0f} µs",
              f"    {'what the cores offer per message at this rate':<58} {offered:>7,.0f} µs"]
    return lines


def database_lines(run: Run) -> list[str]:
    """Statements (as the server runs them: an executemany of N rows is N), cursor calls
    and transactions per message, by kind, with the rows each touched per second."""
    sent = max(1, run.sent)
    total, calls = sum(run.statements.values()), sum(run.calls.values())
    lines = [f"    per message: {total / sent:.3f} statements, {calls / sent:.3f} cursor calls, "
             f"{run.transactions / sent:.3f} transactions; PostgreSQL CPU per statement "
             f"{run.postgres_cpu / max(1, total) * 1e6:,.0f} µs",
             f"    {'kind':<48} {'statements':>10} {'calls':>6} {'per 1,000 msg':>13} "
             f"{'rows/call':>9} {'rows/s':>7}"]
    for kind, n in run.statements.most_common():
        called = max(1, run.calls[kind])
        lines.append(f"    {kind[:48]:<48} {n:>10,} {called:>6,} {n / sent * 1000:>13.1f} "
                     f"{run.rows[kind] / called:>9.1f} {run.rows[kind] / run.seconds:>7,.0f}")
    return lines


def plan(workers: list[int], code: str | None, both: bool) -> list[tuple[int, str | None]]:
    """The runs in order: each worker count on `code` (None: this checkout); with `both`,
    on `code` and this checkout in turn, old-new-new-old, so a drift of the machine's load
    weighs on both alike."""
    if not both:
        return [(n, code) for n in workers]
    order = [code, None, None, code]
    return [(n, which) for which in order for n in workers]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--code", help="a folder holding another checkout's publisher/")
    parser.add_argument("--both", action="store_true",
                        help="with --code: run on it and on this checkout, in turn")
    args = parser.parse_args()
    with open("/proc/loadavg", encoding="ascii") as load:
        before = load.read().split()[:3]
    with smtp_sink_process() as (port, sink), postgres_server() as server:
        runs = [drain_with(server, port, sink, args.subscribers, n, code)
                for n, code in plan(args.workers, args.code, args.both)]
    with open("/proc/loadavg", encoding="ascii") as load:
        after = load.read().split()[:3]
    print(f"{CORES} cores, {args.subscribers:,} readers, load average before "
          f"{' '.join(before)}, after {' '.join(after)}")
    for run in runs:
        print(f"\nd{run.workers} on {run.code}: {run.workers} worker(s), 1 sender process and "
              f"16 connections each: {run.rate:,.0f} messages/s ({run.sent:,} in "
              f"{run.seconds:.1f} s)")
        print("  CPU per message sent:")
        print("\n".join(cpu_lines(run)))
        print("  the database's share:")
        print("\n".join(database_lines(run)))
    print("")
    for code in dict.fromkeys(run.code for run in runs):
        rates: dict[int, list[float]] = {}
        for run in runs:
            if run.code == code:
                rates.setdefault(run.workers, []).append(run.rate)
        best = {n: max(r) for n, r in rates.items()}
        if 1 in best and 2 in best:
            print(f"{code}: d1 {best[1]:,.0f}, d2 {best[2]:,.0f} messages/s (the faster of "
                  f"{len(rates[1])} run(s) each), d2/d1 = {best[2] / best[1]:.2f}")


if __name__ == "__main__":
    main()
