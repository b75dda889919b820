"""Sending throughput, one run, against Postfix's smtp-sink on loopback:

  (a) L  smtp-source -s 16 into smtp-sink (the machine's practical limit)
  (b) R  raw aiosmtplib, prebuilt bytes, 16 connections (aiosmtplib's own ceiling)
  (c)    publisher's full pipeline: SQLite outbox, personalisation, DKIM rsa-2048,
         16 connections, N subscribers (default 100,000)
  (d)    the same on PostgreSQL with 2 worker processes (and with 1, for the scaling)
  (e)    a naive baseline on 2,000 subscribers: EmailMessage per recipient, dkimpy
         signing, one commit per row, one connection

plus concurrency 1/4/16 beside smtp-source, personalisation and signing rates, and the
peak RSS of (c). `--subscribers 1000000` measures (c) on a million.

    python bench/send.py [--subscribers 100000] [--quick]
    python bench/send.py --pipeline-only --subscribers 1000000   # (c) and its RSS only
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.sending.helpers import insert_confirmed, write_config_file  # noqa: E402
from tests.servers import postgres_server, smtp_sink  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SEED = REPO / "issues" / "2024-06-first-half.md"
SECRET = "bench-secret-key-0123456789"
NOW = datetime.now(UTC)


def site(root: Path, port: int, database_url: str, pool: int = 16, processes: int = 0) -> Any:
    from publisher.config import load_config
    from publisher.mail.dkim_signing import generate, write_key

    key = root / "dkim.pem"
    if not key.exists():
        write_key(generate("rsa", 2048), key)
    base = load_config(REPO)
    s = base.settings
    return replace(base, settings=s.model_copy(update={
        "smtp": s.smtp.model_copy(update={"port": port, "pool_size": pool,
                                          "max_messages_per_connection": 1_000_000}),
        "database": s.database.model_copy(update={"url": database_url}),
        "sending": s.sending.model_copy(update={"batch_size": 500,
                                                "build_processes": processes}),
        "paths": s.paths.model_copy(update={"output": str(root / "public")}),
        "dkim": s.dkim.model_copy(update={"selector": "bench", "domain": "example.org",
                                          "key_path": str(key)}),
    }))


def secrets() -> Any:
    from publisher.config import Secrets

    return Secrets(secret_keys=(SECRET,))


def sample_message(config: Any) -> bytes:
    from publisher.sending.drain import make_job
    from publisher.sending.send_issue import ready

    item = ready(config, SEED)
    job = make_job(1, "tag:bench", item.rendered, config, secrets(), NOW)
    return job.builder.build((1, 1, "u1@example.net", "读者 1")).data


def one_core_rates(config: Any) -> tuple[float, float, float]:
    """Messages personalised, signed, and built (both) per second on one core."""
    from publisher.mail.assemble import _signer
    from publisher.mail.mime import Recipient
    from publisher.sending.drain import make_job
    from publisher.sending.send_issue import ready

    job = make_job(1, "tag:bench", ready(config, SEED).rendered, config, secrets(), NOW)
    prepared, personaliser = job.builder.prepared, job.builder.personaliser
    personal = timed_rate(lambda i: prepared.personalise(personaliser.values(
        Recipient(i, f"u{i}@example.net", f"读者 {i}"))), 20_000)
    plain = prepared.personalise(personaliser.values(Recipient(1, "u1@example.net", "读者")))
    sign = _signer(job.builder.dkim)
    assert sign is not None
    signing = timed_rate(lambda i: sign(plain), 2_000)
    built = timed_rate(lambda i: job.builder.build((i, i, f"u{i}@example.net", f"读者 {i}")),
                       2_000)
    return personal, signing, built


def rate(count: float, seconds: float) -> float:
    return count / seconds if seconds else 0.0


def smtp_source(port: int, sessions: int, count: int, size: int) -> float:
    source = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
    start = time.perf_counter()
    subprocess.run([source, "-s", str(sessions), "-m", str(count), "-l", str(size),
                    "-f", "digest@example.org", "-t", "u1@example.net",
                    f"127.0.0.1:{port}"], check=True)
    return rate(count, time.perf_counter() - start)


def raw_aiosmtplib(port: int, connections: int, count: int, message: bytes) -> float:
    import aiosmtplib

    async def run() -> float:
        async def worker(share: int) -> None:
            client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, use_tls=False,
                                     start_tls=False)
            await client.connect()
            for _ in range(share):
                await client.sendmail("digest@example.org", ["u1@example.net"], message)
            await client.quit()

        start = time.perf_counter()
        await asyncio.gather(*(worker(count // connections) for _ in range(connections)))
        return rate(count // connections * connections, time.perf_counter() - start)

    return asyncio.run(run())


def pipeline_child(port: int, count: int, pool: int, processes: int) -> None:
    """(c) in its own process, so its peak RSS is its own."""
    from publisher.db import open_database
    from publisher.sending.drain import options_from
    from publisher.sending.send_issue import ready, run_send, start

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = site(root, port, f"sqlite:///{root / 'bench.db'}", pool, processes)
        engine = open_database(config.database_url)
        insert_confirmed(engine, count, name="读者 {n}")
        began = time.perf_counter()
        send_id = start(engine, config, ready(config, SEED), NOW)
        counts = run_send(engine, config, secrets(), send_id, lambda: datetime.now(UTC),
                          options_from(config))
        seconds = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    worker = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"sent": counts["sent"], "seconds": seconds, "peak_mb": peak,
                      "worker_peak_mb": worker}))


def run_child(*args: str) -> dict[str, float]:
    output = subprocess.run([sys.executable, __file__, "--child", *args], check=True,
                            capture_output=True, text=True).stdout
    return dict(json.loads(output.strip().splitlines()[-1]))


def postgres_workers(port: int, count: int, workers: int) -> float:
    from publisher.db import open_database
    from publisher.sending.send_issue import ready, start

    with postgres_server() as server, tempfile.TemporaryDirectory() as tmp:
        url = server.url
        root = Path(tmp)
        config = site(root, port, url, pool=16 // workers)
        engine = open_database(url)
        insert_confirmed(engine, count, name="读者 {n}")
        start(engine, config, ready(config, SEED), NOW)
        extra = (f'[sending]\nbatch_size = 500\n\n[dkim]\nselector = "bench"\n'
                 f'domain = "example.org"\nkey_path = "{root / "dkim.pem"}"\n')
        config_file = write_config_file(root, port, url, extra, pool_size=16 // workers,
                                        max_messages_per_connection=1_000_000)
        env = {**os.environ, "PUBLISHER_SECRET_KEY": SECRET}
        began = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-m", "publisher.cli", "--config",
                                   str(config_file), "run", "--worker", "--once"],
                                  env=env, stderr=subprocess.DEVNULL) for _ in range(workers)]
        for proc in procs:
            proc.wait()
        return rate(count, time.perf_counter() - began)


def naive(port: int, count: int) -> float:
    """EmailMessage per recipient, dkimpy's pure-Python signing, one commit per row."""
    import aiosmtplib
    import dkim
    import sqlalchemy as sa

    from publisher.db import deliveries, open_database, sends
    from publisher.sending.send_issue import ready

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        config = site(root, port, f"sqlite:///{root / 'naive.db'}")
        engine = open_database(config.database_url)
        insert_confirmed(engine, count, name="读者 {n}")
        item = ready(config, SEED)
        pem = (root / "dkim.pem").read_bytes()
        with engine.begin() as conn:
            send_id = conn.execute(sends.insert().values(
                issue_slug="naive", entry_id="x", subject="x", status="sending",
                audience_count=count, created_at=NOW).returning(sends.c.id)).scalar_one()
            conn.execute(sa.text("INSERT INTO deliveries (send_id, subscriber_id, email, name, "
                                 "status, attempts, updated_at) SELECT :s, id, email, name, "
                                 "'queued', 0, :t FROM subscribers"),
                         {"s": send_id, "t": NOW.replace(tzinfo=None)})

        async def run() -> None:
            client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, use_tls=False,
                                     start_tls=False)
            await client.connect()
            with engine.connect() as conn:
                rows = conn.execute(sa.select(deliveries.c.id, deliveries.c.email)).all()
            for delivery_id, email in rows:
                message = EmailMessage()
                message["From"] = "LLM 论文摘要 <digest@example.org>"
                message["To"] = email
                message["Subject"] = item.rendered.subject
                message.set_content(item.rendered.text)
                message.add_alternative(item.rendered.html, subtype="html")
                raw = message.as_bytes()
                signed = dkim.sign(raw, b"bench", b"example.org", pem) + raw
                await client.sendmail("digest@example.org", [email], signed)
                with engine.begin() as conn:
                    conn.execute(deliveries.update().where(deliveries.c.id == delivery_id)
                                 .values(status="sent", updated_at=NOW))
            await client.quit()

        began = time.perf_counter()
        asyncio.run(run())
        return rate(count, time.perf_counter() - began)


def timed_rate(action: Callable[[int], object], count: int) -> float:
    began = time.perf_counter()
    for n in range(count):
        action(n)
    return rate(count, time.perf_counter() - began)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--naive", type=int, default=2_000)
    parser.add_argument("--quick", action="store_true", help="small counts, for a smoke run")
    parser.add_argument("--pipeline-only", action="store_true",
                        help="only (c): its rate and peak RSS at --subscribers")
    parser.add_argument("--child", nargs=4, metavar=("PORT", "COUNT", "POOL", "PROCESSES"))
    args = parser.parse_args()
    if args.child:
        pipeline_child(*(int(v) for v in args.child))
        return
    n = 5_000 if args.quick else args.subscribers
    naive_n = 300 if args.quick else args.naive
    if args.pipeline_only:
        with smtp_sink() as port:
            full = run_child(str(port), str(n), "16", str(os.cpu_count() or 2))
        print(f"(c) publisher, SQLite, DKIM, 16 connections, {n:,} subscribers: "
              f"{rate(full['sent'], full['seconds']):,.0f} messages/s; peak RSS "
              f"{full['peak_mb']:.0f} MB (largest build worker {full['worker_peak_mb']:.0f} MB)")
        return
    with tempfile.TemporaryDirectory() as tmp, smtp_sink() as port:
        config = site(Path(tmp), port, f"sqlite:///{Path(tmp) / 'x.db'}")
        message = sample_message(config)
        personal, signing, built = one_core_rates(config)
        limit = smtp_source(port, 16, max(4_000, n // 10), len(message))
        raw = raw_aiosmtplib(port, 16, max(4_000, n // 10), message)
        full = run_child(str(port), str(n), "16", str(os.cpu_count() or 2))
        pg2 = postgres_workers(port, n, 2)
        pg1 = postgres_workers(port, n, 1)
        baseline = naive(port, naive_n)
        levels = []
        for level in (1, 4, 16):
            source_rate = smtp_source(port, level, 2_000, len(message))
            ours = run_child(str(port), "2000", str(level), str(os.cpu_count() or 2))
            levels.append((level, source_rate, rate(ours["sent"], ours["seconds"])))
    c = rate(full["sent"], full["seconds"])
    print(f"message: {len(message):,} bytes (seed edition, personalised, DKIM-signed)")
    print(f"on one core: personalisation {personal:,.0f} messages/s; rsa-2048 DKIM signing "
          f"{signing:,.0f}/s; both (a message built) {built:,.0f}/s")
    print()
    print(f"{'run':<68} {'messages/s':>11}")
    rows = [("(a) L: smtp-source -s 16 -> smtp-sink", limit),
            ("(b) R: raw aiosmtplib, prebuilt bytes, 16 connections", raw),
            (f"(c) publisher, SQLite, DKIM, 16 connections, {n:,} subscribers", c),
            (f"(d) publisher, PostgreSQL, 2 worker processes, {n:,}", pg2),
            (f"(d1) publisher, PostgreSQL, 1 worker process, {n:,}", pg1),
            (f"(e) naive baseline, {naive_n:,} subscribers", baseline)]
    for label, value in rows:
        print(f"{label:<68} {value:>11,.0f}")
    print()
    print(f"c/R = {c / raw:.2f} (target >= 0.5)   c/L = {c / limit:.2f}   "
          f"d/L = {pg2 / limit:.2f}   c/e = {c / baseline:.1f} (target >= 10)")
    print(f"d/c = {pg2 / c:.2f} (target >= 1)   1 -> 2 PostgreSQL workers: x{pg2 / pg1:.2f}")
    print(f"peak RSS of (c) at {n:,} subscribers: {full['peak_mb']:.0f} MB (target < 150 MB; "
          f"largest build worker {full['worker_peak_mb']:.0f} MB)")
    print()
    print(f"{'concurrency':>11} {'smtp-source msg/s':>18} {'publisher msg/s':>16} {'ratio':>6}")
    for level, source_rate, ours_rate in levels:
        print(f"{level:>11} {source_rate:>18,.0f} {ours_rate:>16,.0f} "
              f"{ours_rate / source_rate:>6.2f}")


if __name__ == "__main__":
    main()
