"""d1 and d2 on their own, and where their CPU goes: 1 and then 2 `publisher run --worker
--once` processes on PostgreSQL, each with `sender_processes = 1` and 16 connections, draining
one send of N readers into Postfix's smtp-sink (DKIM rsa-2048, the seed edition, as in
bench/send.py).

For each run it prints the rate, d2/d1, and per message sent: the CPU of the workers'
outbox processes, of their sender processes, of PostgreSQL (the postmaster and every backend
and helper, from /proc) and of smtp-sink, against what the cores offer; and the database's
share: SQL statements and transactions per message, by kind, and rows claimed and recorded
per second and per statement. Each worker counts its own statements (a SQLAlchemy
`before_cursor_execute` listener installed by this script in the worker process, which then
runs the ordinary CLI), so nothing in publisher knows it is measured.

    python bench/postgres_workers.py [--subscribers 20000] [--workers 1 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.profile_send import NOW, SECRET, SEED, site  # noqa: E402
from tests.sending.helpers import insert_confirmed, write_config_file  # noqa: E402
from tests.servers import PostgresServer, postgres_server, smtp_sink  # noqa: E402

CORES = os.cpu_count() or 1
TICK = os.sysconf("SC_CLK_TCK")
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


def worker_child(config_file: str, out: str) -> None:
    """One `publisher run --worker --once`, its statements counted; writes its tally and
    its CPU (own, and its reaped sender processes') to `out` as JSON."""
    import sqlalchemy as sa

    from publisher.cli import main as cli

    tally = Tally()
    sa.event.listen(sa.engine.Engine, "after_cursor_execute", tally.executed)
    sa.event.listen(sa.engine.Engine, "commit", tally.committed)
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


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process, its reaped children and its live children (PostgreSQL's
    postmaster: every backend and helper, the ones gone and the ones running)."""
    fields = _stat(pid)
    total = sum(int(fields[n]) for n in (11, 12, 13, 14))  # utime stime cutime cstime
    for child in _children(pid):
        try:
            child_fields = _stat(child)
        except OSError:
            continue
        total += int(child_fields[11]) + int(child_fields[12])
    return total / TICK


def postmaster(server: PostgresServer) -> int:
    return int((server.data / "postmaster.pid").read_text(encoding="ascii").split()[0])


def sink_pid(port: int) -> int:
    """The smtp-sink process listening on `port` (tests.servers starts it)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                line = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if line and line[0].endswith(b"smtp-sink") and f"127.0.0.1:{port}".encode() in line:
                return int(entry.name)
    raise RuntimeError(f"no smtp-sink on port {port}")


@dataclass(frozen=True)
class Run:
    workers: int
    sent: int
    seconds: float
    outbox_cpu: float  # the workers' own processes: claims, results, their loops and pipes
    sender_cpu: float  # their sender processes
    postgres_cpu: float
    sink_cpu: float
    statements: Counter[str]
    calls: Counter[str]
    rows: Counter[str]
    transactions: int

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


def drain_with(server: PostgresServer, port: int, count: int, workers: int) -> Run:
    """Start a send of `count` readers, then time `workers` worker processes draining it."""
    from publisher.db import open_database
    from publisher.sending import outbox
    from publisher.sending.send_issue import ready, start

    url = server.create_database(f"bench_{workers}_workers_{time.monotonic_ns()}")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = site(root, port, url, senders=1)
        engine = open_database(url)
        insert_confirmed(engine, count, name="读者 {n}")
        send_id = start(engine, config, ready(config, SEED), NOW)
        extra = (f'[sending]\nbatch_size = 500\nsender_processes = 1\n\n'
                 f'[dkim]\nselector = "bench"\ndomain = "example.org"\n'
                 f'key_path = "{root / "dkim.pem"}"\n')
        config_file = write_config_file(root, port, url, extra, pool_size=16,
                                        max_messages_per_connection=1_000_000)
        env = {**os.environ, "PUBLISHER_SECRET_KEY": SECRET}
        outs = [root / f"worker{n}.json" for n in range(workers)]
        pg, sink = postmaster(server), sink_pid(port)
        pg_before, sink_before = tree_cpu(pg), tree_cpu(sink)
        began = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, __file__, "--worker-child",
                                   str(config_file), str(out)], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for out in outs]
        codes = [proc.wait() for proc in procs]
        seconds = time.perf_counter() - began
        pg_cpu, sink_cpu = tree_cpu(pg) - pg_before, tree_cpu(sink) - sink_before
        sent = outbox.counts(engine, send_id)[outbox.SENT]
        engine.dispose()
        tallies = [json.loads(out.read_text(encoding="utf-8")) for out in outs]
    if sent != count or any(codes):
        print(f"warning: {workers} worker(s) sent {sent:,} of {count:,}, exit codes {codes}",
              file=sys.stderr)
    return Run(workers, sent, seconds, sum(t["cpu"] for t in tallies),
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
             ("smtp-sink", run.sink_cpu * per)]
    lines = [f"    {label:<58} {value:>7,.0f} µs" for label, value in parts]
    rest = offered - sum(value for _, value in parts)
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--worker-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker_child:
        worker_child(*args.worker_child)
        return
    with open("/proc/loadavg", encoding="ascii") as load:
        before = load.read().split()[:3]
    with smtp_sink() as port, postgres_server() as server:
        runs = [drain_with(server, port, args.subscribers, n) for n in args.workers]
    with open("/proc/loadavg", encoding="ascii") as load:
        after = load.read().split()[:3]
    print(f"{CORES} cores, {args.subscribers:,} readers, load average before "
          f"{' '.join(before)}, after {' '.join(after)}")
    for run in runs:
        print(f"\nd{run.workers}: {run.workers} worker(s), 1 sender process and 16 connections "
              f"each: {run.rate:,.0f} messages/s ({run.sent:,} in {run.seconds:.1f} s)")
        print("  CPU per message sent:")
        print("\n".join(cpu_lines(run)))
        print("  the database's share:")
        print("\n".join(database_lines(run)))
    if len(runs) >= 2 and runs[0].rate:
        print(f"\nd{runs[-1].workers}/d{runs[0].workers} = {runs[-1].rate / runs[0].rate:.2f}")


if __name__ == "__main__":
    main()
