"""Sending throughput against Postfix's smtp-sink on loopback; every ratio is computed
within this one run, with the seed edition as sent (personalised, DKIM rsa-2048 signed):

  L   smtp-source -s 16 -d: Postfix's C client, 16 reused connections (as publisher's)
  L2  the same at the mean size of c2's messages (the English translation is larger)
  R   raw aiosmtplib `sendmail`, prebuilt bytes, 16 connections, one process
  S   publisher's SMTP client alone (Connection/deliver), prebuilt Outgoing, 16 connections
  c   publisher's full pipeline: SQLite outbox, personalisation, DKIM, 16 connections,
      `sender_processes` left at its default (one per core), N subscribers, start + drain
  c0  the same without DKIM
  c2  c with half the readers in English: two language variants (the seed issue and its
      English translation, issues/2024-06-first-half.en.md), one prepared message each
  d1, d2  PostgreSQL, 1 and 2 `publisher run --worker --once` processes, each with
      `sender_processes = 1` and 16 connections: the SMTP side is the limit
  e   a naive baseline: EmailMessage and dkimpy per recipient, one commit per row

then c/L, c0/L, c2/L2 (within 5 % of c/L), c/R and d2/d1 against the issue's targets, the
per-message CPU split (bench/profile_send.py), the peak RSS of c (main process and each
sender process, from their `sender_stopped` log lines) and 1/4/16 sessions beside
smtp-source.

    python bench/send.py [--subscribers 100000] [--quick]
    python bench/send.py --pipeline-only --subscribers 1000000   # c and its peak RSS only
    python bench/send.py --languages --subscribers 20000   # L, c and c2 only
    python bench/send.py --clicks --subscribers 20000   # L, c, then c with clicks counted

`--clicks` measures c in one run with `[analytics] clicks` off and on (every link of the
email through /l/), twice each, against the same L: the two c/L within 3 %.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from email.message import EmailMessage
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.profile_send import (  # noqa: E402
    FROM,
    NOW,
    SECRET,
    SEED,
    ClientRun,
    Split,
    builder,
    cpu_split,
    raw_aiosmtplib,
    row,
    secrets,
    site,
    smtp_client,
    split_table,
)
from publisher.mail.wire import unstuffed  # noqa: E402
from tests.sending.helpers import insert_confirmed, write_config_file  # noqa: E402
from tests.servers import (  # noqa: E402
    PostgresServer,
    postgres_server,
    smtp_sink,
    smtp_sink_process,
)

REPO = Path(__file__).resolve().parent.parent
CORES = os.cpu_count() or 1


def command_line() -> str:
    """This run's command, as the README quotes it."""
    return shlex.join(["python", os.path.relpath(__file__, REPO), *sys.argv[1:]])


def rate(count: float, seconds: float) -> float:
    """count / seconds, and 0 for a run that measured nothing (a ratio too)."""
    return count / seconds if seconds else 0.0


def smtp_source(port: int, sessions: int, count: int, size: int) -> float:
    """Postfix's C client, `sessions` connections each reused (-d) for its share."""
    source = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
    began = time.perf_counter()
    subprocess.run([source, "-d", "-s", str(sessions), "-m", str(count), "-l", str(size),
                    "-f", FROM, "-t", "u1@example.net", f"127.0.0.1:{port}"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return rate(count, time.perf_counter() - began)


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a running process has used, from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class SinkShare:
    """smtp-sink's CPU during one run: a single process, so at most one core."""

    cpu: float  # seconds
    seconds: float  # the run's wall time
    sent: int

    def per_message(self) -> float:
        return self.cpu / max(1, self.sent) * 1e6

    def line(self, what: str) -> str:
        return (f"smtp-sink during {what}: {self.per_message():,.0f} µs of CPU per message, "
                f"{self.cpu / self.seconds:.2f} of one core")


class _Events(logging.Handler):
    """The `publisher` logger's JSON lines, kept (the sender processes report through it)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.events: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.events.append(json.loads(record.getMessage()))
        except ValueError:
            pass


def mixed_size(config: Any) -> int:
    """The mean size of c2's messages: half the seed edition's, half its translation's."""
    built = builder(config)
    return (len(built.build(row(1)).data) + len(built.build(row(1), "en").data)) // 2


def pipeline_child(port: int, count: int, pool: int, senders: int | None, dkim: bool,
                   bilingual: bool = False, clicks: bool = False) -> None:
    """c in a process of its own, so its peak RSS is its own; prints one JSON line. With
    `bilingual`, every other reader reads English (c2): the send has two variants; with
    `clicks`, the send counts its links' clicks (its links go through /l/)."""
    from publisher.clock import utc_now
    from publisher.db import open_database, subscriber_table
    from publisher.sending.drain import options_from
    from publisher.sending.send_issue import ready, run_send, start

    events = _Events()
    logger = logging.getLogger("publisher")
    logger.setLevel(logging.INFO)
    logger.addHandler(events)
    logger.propagate = False
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = site(root, port, f"sqlite:///{root / 'bench.db'}", pool, senders, dkim)
        if clicks:
            analytics = config.settings.analytics.model_copy(update={"clicks": True})
            config = replace(config, settings=config.settings.model_copy(
                update={"analytics": analytics}))
        engine = open_database(config.database_url)
        insert_confirmed(engine, count, name="读者 {n}")
        if bilingual:
            with engine.begin() as conn:
                conn.execute(subscriber_table.update().where(subscriber_table.c.id % 2 == 0)
                             .values(language="en"))
        item = ready(config, SEED)  # rendering the issue is not sending it
        assert not bilingual or "en" in item.rendered.translations, "no English translation"
        own, children = _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        send_id = start(engine, config, item, NOW)
        counts = run_send(engine, config, secrets(), send_id, utc_now, options_from(config))
        seconds = time.perf_counter() - began
        own, children = (_cpu(resource.RUSAGE_SELF) - own,
                         _cpu(resource.RUSAGE_CHILDREN) - children)
    stopped = [e for e in events.events if e.get("event") == "sender_stopped"]
    print(json.dumps({
        "sent": counts["sent"], "seconds": seconds, "main_cpu": own, "children_cpu": children,
        "main_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "children_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
        "senders": [{k: e.get(k) for k in ("index", "pid", "sent", "peak_rss_mb")}
                    for e in stopped]}))


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


@dataclass(frozen=True)
class Pipeline:
    count: int
    sent: int
    seconds: float
    main_cpu: float  # CPU seconds of the process that owns the outbox
    children_cpu: float  # and of its sender processes (reaped by the end of the drain)
    main_mb: float
    children_mb: float
    senders: list[dict[str, Any]]
    sink_cpu: float = 0.0  # CPU seconds of smtp-sink during the run (0: not measured)

    @property
    def rate(self) -> float:
        return rate(self.sent, self.seconds)

    @property
    def sink(self) -> SinkShare:
        return SinkShare(self.sink_cpu, self.seconds, self.sent)

    def cpu_line(self) -> str:
        def per(seconds: float) -> str:
            return f"{seconds / max(1, self.sent) * 1e6:,.0f} µs"

        sink = f", smtp-sink {per(self.sink_cpu)}" if self.sink_cpu else ""
        return (f"main process {per(self.main_cpu)}, sender processes "
                f"{per(self.children_cpu)}{sink}, wall {per(self.seconds)} x {CORES} cores = "
                f"{per(self.seconds * CORES)} of CPU available (the rest: idle, other load)")

    def rss_line(self) -> str:
        parts = [f"main process {self.main_mb:.0f} MB"]
        parts += [f"sender {s['index']} (pid {s['pid']}, {s['sent']:,} sent) "
                  f"{s['peak_rss_mb']:.0f} MB" for s in self.senders]
        if not self.senders:
            parts.append(f"no sender_stopped lines; largest child process "
                         f"{self.children_mb:.0f} MB")
        return "; ".join(parts)


def pipeline(port: int, count: int, pool: int = 16, senders: int | None = None,
             dkim: bool = True, bilingual: bool = False, clicks: bool = False) -> Pipeline:
    variant = "bilingual" if bilingual else "clicks" if clicks else "one"
    args = [str(port), str(count), str(pool), "default" if senders is None else str(senders),
            "dkim" if dkim else "none", variant]
    output = subprocess.run([sys.executable, __file__, "--child", *args], check=True,
                            capture_output=True, text=True).stdout
    result = json.loads(output.strip().splitlines()[-1])
    run = Pipeline(count, result["sent"], result["seconds"], result["main_cpu"],
                   result["children_cpu"], result["main_mb"], result["children_mb"],
                   result["senders"])
    if run.sent != count:
        print(f"warning: c sent {run.sent:,} of {count:,}", file=sys.stderr)
    return run


@dataclass
class QueuedSend:
    """A send queued on its own PostgreSQL database, and a worker's config file for it."""

    root: Path
    engine: Any
    send_id: int
    config_file: Path
    env: dict[str, str]


@contextmanager
def queued_send(server: PostgresServer, port: int, count: int,
                database: str) -> Iterator[QueuedSend]:
    """A send of the seed edition to `count` readers queued in a new database `database`,
    with the config of a worker that signs with DKIM, has one sender process and 16
    connections to smtp-sink on `port`."""
    from publisher.db import open_database
    from publisher.sending.send_issue import ready, start

    url = server.create_database(database)
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
        try:
            yield QueuedSend(root, engine, send_id, config_file,
                             {**os.environ, "PUBLISHER_SECRET_KEY": SECRET})
        finally:
            engine.dispose()


def postgres_workers(server: PostgresServer, port: int, count: int, workers: int) -> float:
    """`workers` processes of `publisher run --worker --once` draining one send together."""
    from publisher.sending import outbox

    with queued_send(server, port, count, f"bench_{workers}_workers") as queued:
        began = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-m", "publisher.cli", "--config",
                                   str(queued.config_file), "run", "--worker", "--once"],
                                  env=queued.env, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for _ in range(workers)]
        codes = [proc.wait() for proc in procs]
        seconds = time.perf_counter() - began
        sent = outbox.counts(queued.engine, queued.send_id)[outbox.SENT]
    if sent != count or any(codes):
        print(f"warning: {workers} PostgreSQL worker(s) sent {sent:,} of {count:,}, "
              f"exit codes {codes}", file=sys.stderr)
    return rate(sent, seconds)


def naive(port: int, count: int) -> float:
    """EmailMessage per recipient, dkimpy's pure-Python signing, one commit per row."""
    import aiosmtplib
    import dkim
    import sqlalchemy as sa

    from publisher.db import deliveries, open_database
    from publisher.sending.send_issue import ready, start

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = site(root, port, f"sqlite:///{root / 'naive.db'}")
        engine = open_database(config.database_url)
        insert_confirmed(engine, count, name="读者 {n}")
        item = ready(config, SEED)
        start(engine, config, item, NOW)  # the rows only: this loop sends them
        pem = (root / "dkim.pem").read_bytes()
        with engine.connect() as conn:
            rows = conn.execute(sa.select(deliveries.c.id, deliveries.c.email)).all()

        async def run() -> None:
            client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, use_tls=False,
                                     start_tls=False)
            await client.connect()
            for delivery_id, email in rows:
                message = EmailMessage()
                message["From"] = f"LLM 论文摘要 <{FROM}>"
                message["To"] = email
                message["Subject"] = item.rendered.subject
                message.set_content(item.rendered.text)
                message.add_alternative(item.rendered.html, subtype="html")
                raw = message.as_bytes()
                signed = dkim.sign(raw, b"bench", b"example.org", pem) + raw
                await client.sendmail(FROM, [email], signed)
                with engine.begin() as conn:
                    conn.execute(deliveries.update().where(deliveries.c.id == delivery_id)
                                 .values(status="sent", updated_at=NOW))
            await client.quit()

        began = time.perf_counter()
        asyncio.run(run())
        return rate(count, time.perf_counter() - began)


def concurrency(port: int, size: int, count: int) -> list[tuple[int, float, float]]:
    """smtp-source -d and publisher (DKIM on, one sender process per core, at most one
    per session) at 1, 4 and 16 sessions."""
    levels = []
    for level in (1, 4, 16):
        source = smtp_source(port, level, count, size)
        ours = pipeline(port, count, level, min(level, CORES))
        levels.append((level, source, ours.rate))
    return levels


@dataclass(frozen=True)
class Runs:
    size: int
    n: int
    naive_n: int
    limit: float
    mixed: float  # L at the mean size of c2's messages (the translation is larger)
    raw: ClientRun
    client: ClientRun
    split: Split
    full: Pipeline
    plain: Pipeline
    bilingual: Pipeline
    pg1: float
    pg2: float
    baseline: float
    levels: list[tuple[int, float, float]]
    limit_sink: SinkShare  # smtp-sink's CPU during L
    source_cpu: float  # smtp-source's own CPU per message during L, µs


def measure(n: int, naive_n: int, quick: bool) -> Runs:
    with tempfile.TemporaryDirectory() as tmp, smtp_sink_process() as (port, sink):
        root = Path(tmp)
        config = site(root, port, f"sqlite:///{root / 'sample.db'}")
        message = builder(config).build(row(1))
        volume = 4_000 if quick else max(10_000, n // 10)
        sink_before, source_before = process_cpu(sink), _cpu(resource.RUSAGE_CHILDREN)
        began = time.perf_counter()
        limit = smtp_source(port, 16, volume, len(message.data))
        limit_sink = SinkShare(process_cpu(sink) - sink_before, time.perf_counter() - began,
                               volume)
        source_cpu = (_cpu(resource.RUSAGE_CHILDREN) - source_before) / volume * 1e6
        mixed = smtp_source(port, 16, volume, mixed_size(config))
        raw = raw_aiosmtplib(port, unstuffed(message), volume)
        client = smtp_client(config, message, volume)
        split = cpu_split(root, port, quick)
        full = with_sink_cpu(sink, lambda: pipeline(port, n))
        plain = with_sink_cpu(sink, lambda: pipeline(port, n, dkim=False))
        bilingual = pipeline(port, n, bilingual=True)
        with postgres_server() as server:
            pg1 = postgres_workers(server, port, n, 1)
            pg2 = postgres_workers(server, port, n, 2)
        baseline = naive(port, naive_n)
        levels = concurrency(port, len(message.data), 2_000)
    return Runs(len(message.data), n, naive_n, limit, mixed, raw, client, split, full,
                plain, bilingual, pg1, pg2, baseline, levels, limit_sink, source_cpu)


def with_sink_cpu(sink: int, run: Callable[[], Pipeline]) -> Pipeline:
    """A pipeline run with smtp-sink's CPU during it."""
    before = process_cpu(sink)
    result = run()
    return replace(result, sink_cpu=process_cpu(sink) - before)


C_TARGET, C_STRETCH, C0_TARGET = 0.5, 0.55, 0.8  # c/L with DKIM (and its stretch), c0/L


def verdict(value: float, target: float | None) -> str:
    if target is None:
        return ""
    return f">= {target:<4} {'met' if value >= target else 'MISSED'}"


def budget(run: Pipeline, limit: float, ratio: float, parts: list[tuple[str, float]]) -> list[str]:
    """Where the cores' CPU goes per message during a pipeline run, and how much less it
    would take to reach `ratio` of L: the parts measured alone (bench/profile_send.py), the
    sender processes' remainder (their event loop, pipes and the rest), the outbox process,
    smtp-sink (measured from /proc when the run has it) and what the cores had left (idle
    and other load)."""
    sent = max(1, run.sent)
    offered = run.seconds * CORES / sent * 1e6
    main, senders = run.main_cpu / sent * 1e6, run.children_cpu / sent * 1e6
    needed = rate(CORES * 1e6, ratio * limit)
    rows = [*parts, ("sender processes: event loop, pipes, the rest (remainder)",
                     senders - sum(value for _, value in parts)),
            ("outbox process: claims, results, its loop and pipes", main)]
    if run.sink_cpu:
        sink = run.sink.per_message()
        rows += [("smtp-sink (measured)", sink),
                 ("idle and other load (remainder)", offered - main - senders - sink)]
    else:
        rows.append(("smtp-sink's share, idle and other load (remainder)",
                     offered - main - senders))
    lines = [f"{'':<4}{label:<62} {value:>7,.0f} µs" for label, value in rows]
    lines.append(f"{'':<4}{'sum: what the cores offer per message at this rate':<62} "
                 f"{offered:>7,.0f} µs")
    verdict_line = ("met" if offered <= needed else
                    f"{offered - needed:,.0f} µs per message too many")
    lines.append(f"{'':<4}at {ratio} of L ({ratio * limit:,.0f} messages/s) the cores offer "
                 f"{needed:,.0f} µs per message: {verdict_line}")
    return lines


def report(runs: Runs) -> list[str]:
    n = runs.n
    senders = len(runs.full.senders) or "no"
    lines = [f"{'run':<74} {'messages/s':>10}"]
    for label, value in (
            ("L   smtp-source -s 16 -d -> smtp-sink", runs.limit),
            ("L2  the same at the mean size of c2's messages", runs.mixed),
            ("R   raw aiosmtplib sendmail, prebuilt bytes, 16 connections", runs.raw.rate),
            ("S   publisher SMTP client alone, prebuilt Outgoing, 16 connections",
             runs.client.rate),
            (f"c   publisher, SQLite, DKIM, 16 connections, {senders} sender processes, "
             f"{n:,}", runs.full.rate),
            (f"c0  the same without DKIM, {n:,}", runs.plain.rate),
            (f"c2  c with half the readers in English (two variants), {n:,}",
             runs.bilingual.rate),
            (f"d1  PostgreSQL, 1 worker (1 sender process, 16 connections), {n:,}", runs.pg1),
            (f"d2  PostgreSQL, 2 workers (1 sender process, 16 connections each), {n:,}",
             runs.pg2),
            (f"e   naive baseline, {runs.naive_n:,} subscribers", runs.baseline)):
        lines.append(f"{label:<74} {value:>10,.0f}")
    c, limit = runs.full.rate, runs.limit
    lines += ["", f"{'ratio':<38} {'value':>6}  target"]
    for label, value, target in (
            ("c/L   full pipeline, DKIM", rate(c, limit), C_TARGET),
            ("c/L   the same, stretch target", rate(c, limit), C_STRETCH),
            ("c0/L  full pipeline, no DKIM", rate(runs.plain.rate, limit), C0_TARGET),
            ("c2/L2 full pipeline, two languages", rate(runs.bilingual.rate, runs.mixed),
             None),
            ("(c2/L2)/(c/L) two languages vs one",
             rate(rate(runs.bilingual.rate, runs.mixed), rate(c, limit)), 0.95),
            ("c/R   vs raw aiosmtplib", rate(c, runs.raw.rate), None),
            ("S/L   our SMTP client vs smtp-source", rate(runs.client.rate, limit), None),
            ("d2/d1 1 -> 2 PostgreSQL workers", rate(runs.pg2, runs.pg1), 1.3),
            ("c/e   vs the naive baseline", rate(c, runs.baseline), None)):
        lines.append(f"{label:<38} {value:>6.2f}  {verdict(value, target)}".rstrip())
    split = runs.split
    lines += ["", runs.limit_sink.line("L") + f" (smtp-source itself {runs.source_cpu:,.0f} µs)",
              runs.full.sink.line("c"), runs.plain.sink.line("c0"),
              "smtp-sink is one process: L is what it takes with a core to itself, while c and "
              "c0 share the two cores with it"]
    lines += ["", *split_table(split), "",
              f"CPU per message during c: {runs.full.cpu_line()}",
              *budget(runs.full, limit, C_TARGET, [
                  ("RSA-2048 private-key operation", split.rsa),
                  ("rest of DKIM (hashing, header fields, signature header)",
                   split.dkim_rest),
                  ("SMTP client (Connection/deliver)", split.smtp_client),
                  ("personalisation (prepared message -> Outgoing)", split.personalise)]),
              f"CPU per message during c0: {runs.plain.cpu_line()}",
              *budget(runs.plain, limit, C0_TARGET, [
                  ("SMTP client (Connection/deliver)", split.smtp_client),
                  ("personalisation (prepared message -> Outgoing)", split.personalise)]),
              "",
              f"peak RSS of c at {n:,} subscribers (target < 150 MB each): "
              f"{runs.full.rss_line()}", "",
              "concurrency, 2,000 messages each (publisher: DKIM, one sender process per "
              "session up to the cores)",
              f"{'sessions':>8} {'smtp-source -d msg/s':>21} {'publisher msg/s':>16} "
              f"{'ratio':>6}"]
    for level, source, ours in runs.levels:
        lines.append(f"{level:>8} {source:>21,.0f} {ours:>16,.0f} {rate(ours, source):>6.2f}")
    return lines


def header(size: int | None, n: int) -> str:
    import aiosmtplib

    message = f"; message {size:,} bytes as sent (seed edition, DKIM)" if size else ""
    return (f"machine: {CORES} cores, {platform.python_implementation()} "
            f"{platform.python_version()}, aiosmtplib {aiosmtplib.__version__}; "
            f"N = {n:,} subscribers{message}")


def pipeline_only(n: int) -> None:
    with smtp_sink() as port:
        full = pipeline(port, n)
    print(header(None, n))
    print(f"c  publisher, SQLite, DKIM, 16 connections, default sender processes, {n:,} "
          f"subscribers: {full.rate:,.0f} messages/s")
    print(f"peak RSS (target < 150 MB each): {full.rss_line()}")
    print(f"CPU per message: {full.cpu_line()}")


def languages_only(n: int) -> None:
    """L, c, L2 and c2 alone: what a second language variant costs the send. The English
    translation is larger than the original, so c2 is measured against L2, smtp-source at
    the mean size of c2's messages."""
    with smtp_sink() as port, tempfile.TemporaryDirectory() as tmp:
        config = site(Path(tmp), port, f"sqlite:///{Path(tmp) / 'sample.db'}")
        size, mixed = len(builder(config).build(row(1)).data), mixed_size(config)
        volume = max(10_000, n // 10)
        limit = smtp_source(port, 16, volume, size)
        one = pipeline(port, n)
        limit2 = smtp_source(port, 16, volume, mixed)
        two = pipeline(port, n, bilingual=True)
    one_ratio, two_ratio = rate(one.rate, limit), rate(two.rate, limit2)
    print(header(size, n))
    print(f"L   smtp-source -s 16 -d -> smtp-sink, {size:,} bytes: {limit:,.0f} messages/s")
    print(f"c   one language, {n:,}: {one.rate:,.0f} messages/s, c/L {one_ratio:.3f}")
    print(f"L2  the same at {mixed:,} bytes (c2's mean): {limit2:,.0f} messages/s")
    print(f"c2  two languages (half the readers in English), {n:,}: {two.rate:,.0f} "
          f"messages/s, c2/L2 {two_ratio:.3f}")
    print(f"(c2/L2)/(c/L) = {rate(two_ratio, one_ratio):.3f} (target: within 5 %, >= 0.95)")
    print(f"CPU per message during c: {one.cpu_line()}")
    print(f"CPU per message during c2: {two.cpu_line()}")


def clicks_only(n: int) -> None:
    """L, then c with clicks off and on, twice each in the order off, on, on, off (so a
    drift of the machine's other load weighs on both alike), the faster of each kept: what
    counting clicks costs a send (its links are rewritten once per send, so nothing per
    message but a few more octets)."""
    with smtp_sink() as port, tempfile.TemporaryDirectory() as tmp:
        config = site(Path(tmp), port, f"sqlite:///{Path(tmp) / 'sample.db'}")
        size = len(builder(config).build(row(1)).data)
        limit = smtp_source(port, 16, max(10_000, n // 10), size)
        runs = [pipeline(port, n, clicks=clicks) for clicks in (False, True, True, False)]
    off = max(runs[0], runs[3], key=lambda run: run.rate)
    on = max(runs[1], runs[2], key=lambda run: run.rate)
    off_ratio, on_ratio = rate(off.rate, limit), rate(on.rate, limit)
    print(header(size, n))
    print(f"L   smtp-source -s 16 -d -> smtp-sink, {size:,} bytes: {limit:,.0f} messages/s")
    print(f"c   clicks off, {n:,}: {off.rate:,.0f} messages/s, c/L {off_ratio:.3f} (runs: "
          f"{runs[0].rate:,.0f}, {runs[3].rate:,.0f})")
    print(f"c   clicks on, {n:,}: {on.rate:,.0f} messages/s, c/L {on_ratio:.3f} (runs: "
          f"{runs[1].rate:,.0f}, {runs[2].rate:,.0f})")
    print(f"(c/L on)/(c/L off) = {rate(on_ratio, off_ratio):.3f} (target: within 3 %, >= 0.97)")
    print(f"CPU per message, clicks off: {off.cpu_line()}")
    print(f"CPU per message, clicks on: {on.cpu_line()}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--naive", type=int, default=2_000)
    parser.add_argument("--quick", action="store_true", help="small counts: a few minutes")
    parser.add_argument("--pipeline-only", action="store_true",
                        help="only c: its rate and peak RSS at --subscribers")
    parser.add_argument("--languages", action="store_true",
                        help="only L, c and c2 (one language against two)")
    parser.add_argument("--clicks", action="store_true",
                        help="only L and c with clicks off, then on (their c/L within 3 %%)")
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        port, count, pool, senders, dkim, languages = args.child
        pipeline_child(int(port), int(count), int(pool),
                       None if senders == "default" else int(senders), dkim == "dkim",
                       languages == "bilingual", languages == "clicks")
        return
    print(f"$ {command_line()}", flush=True)
    began = time.perf_counter()
    n = 5_000 if args.quick else args.subscribers
    if args.pipeline_only:
        pipeline_only(n)
    elif args.languages:
        languages_only(n)
    elif args.clicks:
        clicks_only(n)
    else:
        runs = measure(n, 300 if args.quick else args.naive, args.quick)
        print(header(runs.size, n))
        print("\n".join(["", *report(runs)]))
    print(f"\n(took {time.perf_counter() - began:,.0f} s)")


if __name__ == "__main__":
    main()
