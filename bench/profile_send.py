"""Where one message's CPU goes, on one core, in microseconds (CPU time, not wall time):

  personalise  the send's prepared message -> Outgoing for one reader, no DKIM
  DKIM         rsa-2048 signing only: building with DKIM minus building without; of it,
               the RSA private-key operation alone (OpenSSL, on a digest) and the rest
               (hashing, canonicalising, headers: building with DKIM but the RSA
               operation stubbed out, minus building without), the rest also by the former
               path (the whole message joined, then signed by dkim_signing's general
               signer, as before publisher.mail.dkim_prepared) for the comparison
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
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
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


def former_build(built: Builder) -> Callable[[int], object]:
    """A row built as before the signing plan: the whole message joined, signed by the
    general signer (headers parsed, body prefix learnt and hashed), headers put in front
    with a second copy."""
    from publisher.clock import utc_now
    from publisher.mail.dkim_signing import load_key, make_header_signer
    from publisher.mail.mime import Recipient
    from publisher.mail.wire import with_headers

    keys = [load_key(pem, selector, domain, "bench") for selector, domain, pem in built.dkim]
    sign = make_header_signer(keys, utc_now)

    def build(n: int) -> object:
        _, subscriber_id, email, name = row(n)
        values = built.personaliser.values(Recipient(subscriber_id, email, name))
        outgoing, message = built.prepared.outgoing(values, with_message=True)
        return with_headers(sign(message), outgoing)

    return build


@contextmanager
def _rsa_stubbed() -> Iterator[None]:
    """DKIM with the RSA operation replaced by a constant of its length (the rest timed)."""
    from unittest.mock import patch

    from publisher.mail import dkim_signing

    with patch.object(dkim_signing, "_raw_signature", lambda key, digest: bytes(256)):
        yield


def rsa_operation(built: Builder, count: int) -> float:
    """Microseconds of one RSA-2048 PKCS#1 v1.5 signature of a sha256 digest (OpenSSL)."""
    import hashlib

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa
    from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

    from publisher.mail.dkim_signing import load_key

    ((selector, domain, pem),) = built.dkim
    key = load_key(pem, selector, domain, "bench").key
    assert isinstance(key, rsa.RSAPrivateKey)
    return cpu_per_message(lambda n: key.sign(hashlib.sha256(b"%d" % n).digest(),
                                              padding.PKCS1v15(), Prehashed(hashes.SHA256())),
                           count)


@dataclass(frozen=True)
class Split:
    personalise: float
    dkim: float
    smtp_client: float
    outbox: float
    raw_aiosmtplib: float  # reference: aiosmtplib's sendmail, not part of the sum
    rsa: float  # the RSA operation alone
    dkim_rest: float  # DKIM without the RSA operation
    dkim_rest_former: float  # the same by the former path, for the comparison

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
    former = former_build(with_dkim)
    former(0)
    personalise = cpu_per_message(lambda n: without.build(row(n)), 2_000 * scale)
    both = cpu_per_message(lambda n: with_dkim.build(row(n)), 1_000 * scale)
    rsa = rsa_operation(with_dkim, 1_000 * scale)
    with _rsa_stubbed():
        rest = cpu_per_message(lambda n: with_dkim.build(row(n)), 2_000 * scale)
        rest_former = cpu_per_message(former, 2_000 * scale)
        personalise_again = cpu_per_message(lambda n: without.build(row(n)), 2_000 * scale)
    message = with_dkim.build(row(1))
    client = smtp_client(signed, message, 2_000 * scale)
    raw = raw_aiosmtplib(port, unstuffed(message), 2_000 * scale)
    rows = outbox_cost(signed, 5_000 * scale)
    return Split(personalise, both - personalise, client.cpu_us, rows, raw.cpu_us, rsa,
                 rest - personalise_again, rest_former - personalise_again)


def split_table(split: Split) -> list[str]:
    lines = [f"{'CPU per message, one core':<46} {'µs':>8} {'share':>6}"]
    for label, value in (("personalise (prepared message -> Outgoing)", split.personalise),
                         ("DKIM rsa-2048 (signing only)", split.dkim),
                         ("SMTP client (Connection/deliver, 16 conns)", split.smtp_client),
                         ("outbox (claim + record, SQLite, batch 500)", split.outbox)):
        lines.append(f"{label:<46} {value:>8,.0f} {value / split.total:>6.0%}")
    lines.append(f"{'sum':<46} {split.total:>8,.0f}")
    lines.append(f"DKIM minus the RSA operation ({split.rsa:,.0f} µs alone): "
                 f"{split.dkim_rest:,.0f} µs per message, the former path "
                 f"{split.dkim_rest_former:,.0f} µs")
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
