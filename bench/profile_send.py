"""Where one message's CPU goes, on one core, in microseconds (CPU time, not wall time):

  personalise  the send's prepared message -> Outgoing for one reader, no DKIM
  DKIM         rsa-2048 signing only: building with DKIM minus building without
  SMTP client  publisher.mail.smtp's Connection/deliver on a prebuilt Outgoing, 16
               connections into Postfix's smtp-sink, the whole process's CPU per message
  outbox       claim + record on SQLite, batches of 500, no SMTP

The sum gives the one-core ceiling (messages/s). `bench/send.py` prints the same split
beside its throughput runs; this file also runs alone:

    python bench/profile_send.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from publisher.config import Config, Secrets  # noqa: E402
from publisher.mail.assemble import Builder  # noqa: E402
from publisher.mail.wire import Outgoing, unstuffed  # noqa: E402
from tests.servers import smtp_sink  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SEED = REPO / "issues" / "2024-06-first-half.md"
SECRET = "bench-secret-key-0123456789"
NOW = datetime.now(UTC)
FROM = "digest@example.org"


def site(root: Path, port: int, database_url: str, pool: int = 16,
         senders: int | None = None, dkim: bool = True) -> Config:
    """The repo's settings aimed at smtp-sink on `port`, batches of 500, rsa-2048 DKIM
    (or none), `sender_processes` = `senders` (None: one per core)."""
    from publisher.config import load_config
    from publisher.mail.dkim_signing import generate, write_key

    key = root / "dkim.pem"
    if dkim and not key.exists():
        write_key(generate("rsa", 2048), key)
    base = load_config(REPO)
    s = base.settings
    signing = ({"selector": "bench", "domain": "example.org", "key_path": str(key)} if dkim
               else {"selector": None, "domain": None, "key_path": None})
    return replace(base, settings=s.model_copy(update={
        "smtp": s.smtp.model_copy(update={"port": port, "pool_size": pool,
                                          "max_messages_per_connection": 1_000_000}),
        "database": s.database.model_copy(update={"url": database_url}),
        "sending": s.sending.model_copy(update={"batch_size": 500,
                                                "sender_processes": senders}),
        "paths": s.paths.model_copy(update={"output": str(root / "public")}),
        "dkim": s.dkim.model_copy(update=signing),
    }))


def secrets() -> Secrets:
    return Secrets(secret_keys=(SECRET,))


def builder(config: Config) -> Builder:
    """The seed edition's builder, as a send of it would make it."""
    from publisher.sending.drain import make_job
    from publisher.sending.send_issue import ready

    return make_job(1, "tag:bench", ready(config, SEED).rendered, config, secrets(),
                    NOW).builder


def row(n: int) -> tuple[int, int, str, str]:
    """Reader n as the outbox hands them over (a Chinese name, so headers need RFC 2047)."""
    return (n, n, f"u{n}@example.net", f"读者 {n}")


def cpu_per_message(action: Callable[[int], object], count: int) -> float:
    """Microseconds of this process's CPU per call."""
    began = time.process_time()
    for n in range(count):
        action(n)
    return (time.process_time() - began) / count * 1e6


@dataclass(frozen=True)
class ClientRun:
    rate: float  # messages/s, wall clock
    cpu_us: float  # process CPU per message


def smtp_client(config: Config, message: Outgoing, count: int,
                connections: int = 16) -> ClientRun:
    """publisher's SMTP client alone: `deliver` on prebuilt bytes over `connections`."""
    from publisher.mail.smtp import Connection, Kind, deliver

    async def run() -> None:
        async def worker(share: int) -> None:
            connection = Connection(config.settings.smtp, secrets())
            try:
                for _ in range(share):
                    reply = await deliver(connection, FROM, "u1@example.net", message)
                    if reply.kind is not Kind.SENT:
                        raise RuntimeError(f"smtp-sink refused: {reply.text}")
            finally:
                await connection.close()

        await asyncio.gather(*(worker(count // connections) for _ in range(connections)))

    return _timed_run(run, count // connections * connections)


def raw_aiosmtplib(port: int, message: bytes, count: int, connections: int = 16) -> ClientRun:
    """aiosmtplib's own `sendmail` on prebuilt bytes (it normalises and dot-stuffs them)."""
    import aiosmtplib

    async def run() -> None:
        async def worker(share: int) -> None:
            client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, use_tls=False,
                                     start_tls=False)
            await client.connect()
            for _ in range(share):
                await client.sendmail(FROM, ["u1@example.net"], message)
            await client.quit()

        await asyncio.gather(*(worker(count // connections) for _ in range(connections)))

    return _timed_run(run, count // connections * connections)


def _timed_run(run: Callable[[], Coroutine[Any, Any, None]], count: int) -> ClientRun:
    wall, cpu = time.perf_counter(), time.process_time()
    asyncio.run(run())
    return ClientRun(count / (time.perf_counter() - wall),
                     (time.process_time() - cpu) / count * 1e6)


def outbox_cost(config: Config, count: int) -> float:
    """Microseconds of CPU per row to claim and record `count` rows, 500 at a time."""
    from publisher.db import open_database
    from publisher.sending import outbox
    from publisher.sending.send_issue import ready, start
    from tests.sending.helpers import insert_confirmed

    engine = open_database(config.database_url)
    insert_confirmed(engine, count, name="读者 {n}")
    send_id = start(engine, config, ready(config, SEED), NOW)
    began, rows = time.process_time(), 0
    while batch := outbox.claim_batch(engine, send_id, "bench", NOW, 500):
        outbox.record_results(engine, [outbox.Result(d.id, outbox.SENT, "250 2.0.0 Ok")
                                       for d in batch], NOW, "bench")
        rows += len(batch)
    if rows != count:
        raise RuntimeError(f"claimed {rows} rows of {count}")
    return (time.process_time() - began) / count * 1e6


@dataclass(frozen=True)
class Split:
    personalise: float
    dkim: float
    smtp_client: float
    outbox: float
    raw_aiosmtplib: float  # reference: aiosmtplib's sendmail, not part of the sum

    @property
    def total(self) -> float:
        return self.personalise + self.dkim + self.smtp_client + self.outbox


def cpu_split(root: Path, port: int, quick: bool) -> Split:
    """The four costs, measured one after the other in this process."""
    scale = 1 if quick else 3
    signed = site(root, port, f"sqlite:///{root / 'split.db'}")
    plain = site(root, port, f"sqlite:///{root / 'split.db'}", dkim=False)
    with_dkim, without = builder(signed), builder(plain)
    without.build(row(0))  # first build loads what a send loads once
    with_dkim.build(row(0))
    personalise = cpu_per_message(lambda n: without.build(row(n)), 2_000 * scale)
    both = cpu_per_message(lambda n: with_dkim.build(row(n)), 1_000 * scale)
    message = with_dkim.build(row(1))
    client = smtp_client(signed, message, 2_000 * scale)
    raw = raw_aiosmtplib(port, unstuffed(message), 2_000 * scale)
    rows = outbox_cost(signed, 5_000 * scale)
    return Split(personalise, both - personalise, client.cpu_us, rows, raw.cpu_us)


def split_table(split: Split) -> list[str]:
    lines = [f"{'CPU per message, one core':<46} {'µs':>8} {'share':>6}"]
    for label, value in (("personalise (prepared message -> Outgoing)", split.personalise),
                         ("DKIM rsa-2048 (signing only)", split.dkim),
                         ("SMTP client (Connection/deliver, 16 conns)", split.smtp_client),
                         ("outbox (claim + record, SQLite, batch 500)", split.outbox)):
        lines.append(f"{label:<46} {value:>8,.0f} {value / split.total:>6.0%}")
    lines.append(f"{'sum':<46} {split.total:>8,.0f}")
    lines.append(f"one-core ceiling: {1e6 / split.total:,.0f} messages/s "
                 f"(reference: aiosmtplib sendmail on the same bytes "
                 f"{split.raw_aiosmtplib:,.0f} µs/message)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer messages per part")
    quick = parser.parse_args().quick
    with tempfile.TemporaryDirectory() as tmp, smtp_sink() as port:
        print("\n".join(split_table(cpu_split(Path(tmp), port, quick))))


if __name__ == "__main__":
    main()
