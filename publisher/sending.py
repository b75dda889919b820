"""Drive a send: claim batches from the outbox, build each message, push it through the
SMTP pool, settle the batch. Pure orchestration; the clock, transport and signer come in."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from publisher import outbox
from publisher.bounces import verp_address
from publisher.config import Config, Secrets
from publisher.db import deliveries, subscribers
from publisher.email_render import RenderedEmail
from publisher.mail import (
    Personaliser,
    PreparedMessage,
    Recipient,
    SendContext,
    Signer,
    build,
    prepare,
)
from publisher.outbox import FAILED, Delivery, Result
from publisher.ratelimit import AsyncRateLimiter
from publisher.sender import Backoff, Connection, attempt, rate_limiter
from publisher.tokens import TokenSigner

Progress = Callable[[dict[str, int]], None]


@dataclass
class SendJob:
    """Everything needed to deliver one issue's send."""

    send_id: int
    prepared: PreparedMessage
    personaliser: Personaliser
    sign: Signer | None = None
    envelope: Callable[[Delivery], str] | None = None  # VERP: one return path per delivery

    def envelope_from(self, delivery: Delivery) -> str:
        return self.envelope(delivery) if self.envelope else self.prepared.envelope_from


@dataclass
class DrainOptions:
    batch_size: int = 200
    lease: timedelta = timedelta(minutes=10)
    worker: str = field(default_factory=outbox.worker_id)
    wait_for_deferred: bool = False
    stop: asyncio.Event | None = None
    progress: Progress | None = None


def options_from(config: Config, **overrides: object) -> DrainOptions:
    """Drain options from [sending] settings."""
    sending = config.settings.sending
    options = DrainOptions(batch_size=sending.batch_size,
                           lease=timedelta(seconds=sending.lease_seconds))
    for key, value in overrides.items():
        setattr(options, key, value)
    return options


def make_job(send_id: int, entry_id: str, rendered: RenderedEmail,
             config: Config, secrets: Secrets, started: datetime,
             sign: Signer | None = None) -> SendJob:
    sender = config.settings.sender
    context = SendContext(
        rendered=rendered, entry_id=entry_id,
        base_url=config.site.base_url, from_name=sender.from_name,
        from_address=sender.from_address, reply_to=sender.reply_to,
        unsubscribe_mailto=sender.unsubscribe_mailto, site_title=config.site.title,
        date=started)
    domain = sender.from_address.rsplit("@", 1)[1]
    personaliser = Personaliser(context, TokenSigner(secrets.secret_keys), domain)
    envelope = None
    if config.settings.bounces.verp:
        key = secrets.signing_key
        envelope = lambda delivery: verp_address(key, delivery.id, domain)  # noqa: E731
    return SendJob(send_id, prepare(context), personaliser, sign, envelope)


def dead_local_workers(engine: Engine, send_id: int) -> list[str]:
    """Workers on this host that hold claims but whose process is gone (killed, crashed)."""
    host = socket.gethostname()
    c = deliveries.c
    with engine.connect() as conn:
        owners = conn.execute(sa.select(c.claimed_by).distinct()
                              .where(c.send_id == send_id, c.status == outbox.SENDING)).scalars()
        dead = []
        for owner in owners:
            name, _, pid = (owner or "").rpartition(":")
            if name == host and pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
                dead.append(owner)
    return dead


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def suppressed(engine: Engine, batch: list[Delivery]) -> dict[int, str]:
    """Deliveries whose subscriber left (or bounced) since the snapshot: never sent."""
    ids = [d.subscriber_id for d in batch]
    with engine.connect() as conn:
        rows = conn.execute(sa.select(subscribers.c.id, subscribers.c.status)
                            .where(subscribers.c.id.in_(ids))).all()
    status = {int(i): str(s) for i, s in rows}
    return {d.id: status.get(d.subscriber_id, "erased") for d in batch
            if status.get(d.subscriber_id) != "confirmed"}


async def _send_batch(job: SendJob, batch: list[Delivery], connections: list[Connection],
                      config: Config, now: Callable[[], datetime],
                      limiter: AsyncRateLimiter) -> list[Result]:
    smtp = config.settings.smtp
    backoff = Backoff(smtp.backoff_base_seconds, smtp.backoff_max_seconds, smtp.max_attempts)
    queue: asyncio.Queue[Delivery] = asyncio.Queue()
    for delivery in batch:
        queue.put_nowait(delivery)
    results: list[Result] = []

    async def work(connection: Connection) -> None:
        while not queue.empty():
            delivery = queue.get_nowait()
            recipient = Recipient(delivery.subscriber_id, delivery.email, delivery.name)
            try:
                message = build(job.prepared, job.personaliser, recipient, job.sign)
            except Exception as exc:  # a bad address or name fails one row, not the send
                results.append(Result(delivery.id, FAILED, f"not sent: {exc}"))
                continue
            await limiter.acquire()
            results.append(await attempt(connection, delivery, job.envelope_from(delivery),
                                         message, backoff, now))

    await asyncio.gather(*(work(c) for c in connections))
    return results


async def drain(engine: Engine, job: SendJob, config: Config, secrets: Secrets,
                now: Callable[[], datetime], options: DrainOptions) -> dict[str, int]:
    """Send every due row of the job; returns the final counts per state."""
    smtp = config.settings.smtp
    loop = asyncio.get_running_loop()
    limiter = rate_limiter(smtp, loop.time)
    connections = [Connection(smtp, secrets) for _ in range(smtp.pool_size)]
    try:
        while not (options.stop and options.stop.is_set()):
            dead = await asyncio.to_thread(dead_local_workers, engine, job.send_id)
            batch = await asyncio.to_thread(
                outbox.claim_batch, engine, job.send_id, options.worker, now(),
                options.batch_size, options.lease, dead)
            if not batch:
                if not await _wait_for_deferred(engine, job, now, options):
                    break
                continue
            skipped = await asyncio.to_thread(suppressed, engine, batch)
            results = [Result(i, FAILED, f"not sent: subscriber {s}") for i, s in skipped.items()]
            sendable = [d for d in batch if d.id not in skipped]
            results += await _send_batch(job, sendable, connections, config, now, limiter)
            await asyncio.to_thread(outbox.record_results, engine, results, now())
            if options.progress:
                options.progress(await asyncio.to_thread(outbox.counts, engine, job.send_id))
    finally:
        await asyncio.gather(*(c.close() for c in connections))
    if await asyncio.to_thread(outbox.is_finished, engine, job.send_id):
        await asyncio.to_thread(outbox.mark_done, engine, job.send_id, now())
    return await asyncio.to_thread(outbox.counts, engine, job.send_id)


async def _wait_for_deferred(engine: Engine, job: SendJob, now: Callable[[], datetime],
                             options: DrainOptions) -> bool:
    """With wait_for_deferred, sleep until the next deferred row is due; else stop."""
    if not options.wait_for_deferred:
        return False
    due = await asyncio.to_thread(outbox.next_due, engine, job.send_id)
    if due is None:
        return False
    delay = max(0.0, (due - now()).total_seconds())
    stop = options.stop or asyncio.Event()
    try:
        await asyncio.wait_for(stop.wait(), timeout=min(delay, 60.0) + 0.01)
    except TimeoutError:
        pass
    return True
