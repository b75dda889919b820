"""Sending throughput against Postfix's smtp-sink on loopback, beside Postfix's own
smtp-source at the same concurrency (the machine's practical limit), measured in one run;
plus messages built per second and peak RSS while streaming a large audience.

    python bench/send.py [--subscribers 5000] [--stream 1000000] [--concurrency 1 4 16]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
T0 = datetime(2024, 6, 16, 1, 0, tzinfo=UTC)
SECRET = "bench-secret-key-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def smtp_sink() -> Iterator[int]:
    port = free_port()
    sink = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
    process = subprocess.Popen([sink, "-u", "postfix", f"127.0.0.1:{port}", "1024"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    try:
        yield port
    finally:
        process.terminate()
        process.wait(5)


def smtp_source_rate(port: int, sessions: int, messages: int, size: int) -> float:
    source = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
    start = time.perf_counter()
    subprocess.run([source, "-s", str(sessions), "-m", str(messages), "-l", str(size),
                    "-f", "digest@example.org", "-t", "reader@example.net",
                    f"127.0.0.1:{port}"], check=True)
    return messages / (time.perf_counter() - start)


def site(tmp: Path, port: int, pool: int, batch: int = 500) -> Any:
    from publisher.config import load_config

    base = load_config(REPO)
    settings = base.settings
    return replace(base, settings=settings.model_copy(update={
        "smtp": settings.smtp.model_copy(update={"port": port, "pool_size": pool,
                                                 "max_messages_per_connection": 100_000}),
        "database": settings.database.model_copy(update={"url": f"sqlite:///{tmp / 'b.db'}"}),
        "sending": settings.sending.model_copy(update={"batch_size": batch}),
        "paths": settings.paths.model_copy(update={"output": str(tmp / "public")}),
    }))


def fill_audience(engine: Any, count: int) -> None:
    from publisher.db import subscribers

    chunk = 20_000
    for start in range(0, count, chunk):
        rows = [{"email": f"u{n}@example.net", "email_key": f"u{n}@example.net",
                 "name": f"Reader {n}", "status": "confirmed", "tags": [], "created_at": T0,
                 "updated_at": T0, "consent_at": T0, "consent_source": "bench",
                 "bounce_count": 0} for n in range(start, min(count, start + chunk))]
        with engine.begin() as conn:
            conn.execute(subscribers.insert(), rows)


def publisher_rate(port: int, pool: int, count: int) -> tuple[float, int]:
    from publisher.campaign import ready, run_send, start
    from publisher.config import Secrets
    from publisher.db import open_database
    from publisher.sending import options_from

    with tempfile.TemporaryDirectory() as tmp:
        config = site(Path(tmp), port, pool)
        engine = open_database(config.database_url)
        fill_audience(engine, count)
        send_id = start(engine, config, ready(config, REPO / "issues/2024-06-first-half.md"), T0)
        began = time.perf_counter()
        counts = run_send(engine, config, Secrets(secret_keys=(SECRET,)), send_id,
                          lambda: T0, options_from(config))
        rate = counts["sent"] / (time.perf_counter() - began)
    return rate, counts["sent"]


def build_rate(count: int) -> tuple[float, int]:
    from publisher.campaign import ready
    from publisher.config import Secrets
    from publisher.mail import Recipient
    from publisher.sending import make_job

    with tempfile.TemporaryDirectory() as tmp:
        config = site(Path(tmp), 25, 1)
        item = ready(config, REPO / "issues/2024-06-first-half.md")
        job = make_job(1, item.issue.entry_id("example.org"), item.rendered, config,
                       Secrets(secret_keys=(SECRET,)), T0)
        began = time.perf_counter()
        size = 0
        for n in range(count):
            message = job.builder.prepared.personalise(job.builder.personaliser.values(
                Recipient(n, f"u{n}@example.net", f"Reader {n}")))
            size = len(message)
        return count / (time.perf_counter() - began), size


def stream_child(count: int) -> None:
    """Snapshot, claim, build and settle `count` deliveries with no SMTP; print peak RSS."""
    from publisher import outbox
    from publisher.campaign import ready, start
    from publisher.config import Secrets
    from publisher.db import open_database
    from publisher.mail import Recipient
    from publisher.outbox import SENT, Result
    from publisher.sending import make_job

    with tempfile.TemporaryDirectory() as tmp:
        config = site(Path(tmp), 25, 1, batch=1000)
        engine = open_database(config.database_url)
        fill_audience(engine, count)
        item = ready(config, REPO / "issues/2024-06-first-half.md")
        began = time.perf_counter()
        send_id = start(engine, config, item, T0)
        job = make_job(send_id, item.issue.entry_id("example.org"), item.rendered, config,
                       Secrets(secret_keys=(SECRET,)), T0)
        settled = 0
        while batch := outbox.claim_batch(engine, send_id, "bench", T0, 1000,
                                          timedelta(hours=1)):
            for delivery in batch:
                job.builder.prepared.personalise(job.builder.personaliser.values(
                    Recipient(delivery.subscriber_id, delivery.email, delivery.name)))
            outbox.record_results(engine, [Result(d.id, SENT, "250 bench") for d in batch], T0)
            settled += len(batch)
        seconds = time.perf_counter() - began
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"settled": settled, "seconds": seconds, "peak_mb": peak}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=5000)
    parser.add_argument("--stream", type=int, default=1_000_000)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--stream-child", type=int, default=0)
    args = parser.parse_args()
    if args.stream_child:
        stream_child(args.stream_child)
        return
    built, size = build_rate(20_000)
    print(f"message size {size} bytes; messages built per second (one core): {built:,.0f}")
    print(f"{'concurrency':>11} {'smtp-source msg/s':>18} {'publisher msg/s':>16} {'ratio':>6}")
    with smtp_sink() as port:
        for level in args.concurrency:
            limit = smtp_source_rate(port, level, max(2000, args.subscribers), size)
            ours, sent = publisher_rate(port, level, args.subscribers)
            print(f"{level:>11} {limit:>18,.0f} {ours:>16,.0f} {ours / limit:>6.2f}")
    output = subprocess.run([sys.executable, __file__, "--stream-child", str(args.stream)],
                            check=True, capture_output=True, text=True).stdout
    stream = json.loads(output.strip().splitlines()[-1])
    print(f"streamed {stream['settled']:,} deliveries (snapshot, claim, build, settle; no SMTP) "
          f"in {stream['seconds']:.1f} s; peak RSS {stream['peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
