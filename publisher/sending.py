"""Drive a send: claim batches from the outbox, build each message, push it through the
SMTP pool, settle the batch. Pure orchestration; the clock, transport and signer come in."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from multiprocessing import get_context

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from publisher import outbox
from publisher.bounces import verp_address
from publisher.builder import Builder, Built, Row, build_installed, install, key_specs
from publisher.config import Config, Secrets
from publisher.db import deliveries, subscribers
from publisher.dkim_sign import keys_from_config
from publisher.email_render import RenderedEmail
from publisher.mail import Personaliser, SendContext, prepare
from publisher.outbox import FAILED, Delivery, Result
from publisher.ratelimit import AsyncRateLimiter
from publisher.sender import Backoff, Connection, attempt, rate_limiter
from publisher.tokens import TokenSigner

Progress = Callable[[dict[str, int]], None]


@dataclass
class SendJob:
    """Everything needed to deliver one issue's send."""

    send_id: int
    builder: Builder
    envelope_from_address: str
    envelope: Callable[[Delivery], str] | None = None  # VERP: one return path per delivery

    def envelope_from(self, delivery: Delivery) -> str:
        return self.envelope(delivery) if self.envelope else self.envelope_from_address


@dataclass
class DrainOptions:
    batch_size: int = 200
    lease: timedelta = timedelta(minutes=10)
    worker: str = field(default_factory=outbox.worker_id)
    wait_for_deferred: bool = False
    stop: asyncio.Event | None = None
    progress: Progress | None = None
    build_processes: int = 0  # 0: build in a thread; N: a pool of N processes (DKIM)


def options_from(config: Config, **overrides: object) -> DrainOptions:
    """Drain options from [sending] settings."""
    sending, dkim = config.settings.sending, config.settings.dkim
    processes = sending.build_processes
    if processes is None:
        processes = (os.cpu_count() or 1) if dkim.selector and dkim.domain else 0
    options = DrainOptions(batch_size=sending.batch_size,
                           lease=timedelta(seconds=sending.lease_seconds),
                           build_processes=processes)
    for key, value in overrides.items():
        setattr(options, key, value)
    return options


def make_job(send_id: int, entry_id: str, rendered: RenderedEmail,
             config: Config, secrets: Secrets, started: datetime) -> SendJob:
    """The send's prepared message, personaliser and DKIM keys (from config/secrets)."""
    sender = config.settings.sender
    context = SendContext(
        rendered=rendered, entry_id=entry_id,
        base_url=config.site.base_url, from_name=sender.from_name,
        from_address=sender.from_address, reply_to=sender.reply_to,
        unsubscribe_mailto=sender.unsubscribe_mailto, site_title=config.site.title,
        date=started)
    domain = sender.from_address.rsplit("@", 1)[1]
    personaliser = Personaliser(context, TokenSigner(secrets.secret_keys), domain)
    eight_bit = config.settings.email.transfer_encoding == "8bit"
    builder = Builder(prepare(context, eight_bit), personaliser,
                      key_specs(keys_from_config(config, secrets)))
    envelope = None
    if config.settings.bounces.verp:
        key = secrets.signing_key
        envelope = lambda delivery: verp_address(key, delivery.id, domain)  # noqa: E731
    return SendJob(send_id, builder, sender.from_address, envelope)


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


Item = tuple[Delivery, bytes]
BUILD_AHEAD = 64  # messages built ahead of the connections: memory stays flat at any size


async def _claim_and_build(engine: Engine, job: SendJob, now: Callable[[], datetime],
                           options: DrainOptions, queue: asyncio.Queue[Item | None],
                           pool: ProcessPoolExecutor | None,
                           settled: list[Result]) -> None:
    """Producer: claim a batch, build its messages (pool or thread), hand them to the
    connections; then the next batch, so building overlaps sending."""
    loop = asyncio.get_running_loop()
    try:
        while not (options.stop and options.stop.is_set()):
            dead = await asyncio.to_thread(dead_local_workers, engine, job.send_id)
            batch = await asyncio.to_thread(
                outbox.claim_batch, engine, job.send_id, options.worker, now(),
                options.batch_size, options.lease, dead)
            if not batch:
                if await _wait_for_deferred(engine, job, now, options):
                    continue
                break
            skipped = await asyncio.to_thread(suppressed, engine, batch)
            settled.extend(Result(i, FAILED, f"not sent: subscriber {s}")
                           for i, s in skipped.items())
            rows = [(d.id, d.subscriber_id, d.email, d.name) for d in batch
                    if d.id not in skipped]
            by_id = {d.id: d for d in batch}
            for first in range(0, len(rows), BUILD_AHEAD):
                chunk = rows[first:first + BUILD_AHEAD]
                for delivery_id, message, error in await _build(
                        loop, job.builder, chunk, pool, options.build_processes):
                    if message is None:
                        settled.append(Result(delivery_id, FAILED, error))
                    else:
                        await queue.put((by_id[delivery_id], message))
    finally:
        await queue.put(None)


async def _build(loop: asyncio.AbstractEventLoop, builder: Builder, rows: list[Row],
                 pool: ProcessPoolExecutor | None, workers: int) -> list[Built]:
    if pool is None or len(rows) < 2:
        return await asyncio.to_thread(builder.build_batch, rows)
    size = max(1, -(-len(rows) // workers))
    parts = [rows[i:i + size] for i in range(0, len(rows), size)]
    results = await asyncio.gather(*(loop.run_in_executor(pool, build_installed, part)
                                     for part in parts))
    return [item for part in results for item in part]


async def _deliver(connection: Connection, job: SendJob, queue: asyncio.Queue[Item | None],
                   limiter: AsyncRateLimiter, backoff: Backoff, now: Callable[[], datetime],
                   settled: list[Result]) -> None:
    """Consumer: one SMTP connection sending whatever the producer built."""
    while True:
        item = await queue.get()
        if item is None:
            await queue.put(None)  # let the other connections see the end too
            return
        delivery, message = item
        await limiter.acquire()
        settled.append(await attempt(connection, delivery, job.envelope_from(delivery),
                                     message, backoff, now))


async def _record(engine: Engine, job: SendJob, settled: list[Result], finished: asyncio.Event,
                  now: Callable[[], datetime], options: DrainOptions) -> None:
    """Settle results in batches, one transaction each, until the senders are done."""
    while True:
        done = finished.is_set()
        if settled and (len(settled) >= options.batch_size or done):
            chunk = settled[:]
            del settled[: len(chunk)]
            await asyncio.to_thread(outbox.record_results, engine, chunk, now())
            if options.progress:
                options.progress(await asyncio.to_thread(outbox.counts, engine, job.send_id))
        elif done:
            return
        else:
            await asyncio.sleep(0.05)


async def drain(engine: Engine, job: SendJob, config: Config, secrets: Secrets,
                now: Callable[[], datetime], options: DrainOptions) -> dict[str, int]:
    """Send every due row of the job; returns the final counts per state.

    Claimed and not yet settled at any moment: the rest of the batch being built, the
    BUILD_AHEAD queued messages, one per connection, and the results waiting for their
    batched write (up to batch_size): that is the window a SIGKILL can re-send. Built
    messages in memory are at most two BUILD_AHEAD chunks, whatever the audience.
    """
    smtp = config.settings.smtp
    backoff = Backoff(smtp.backoff_base_seconds, smtp.backoff_max_seconds, smtp.max_attempts)
    limiter = rate_limiter(smtp, asyncio.get_running_loop().time)
    connections = [Connection(smtp, secrets) for _ in range(smtp.pool_size)]
    queue: asyncio.Queue[Item | None] = asyncio.Queue(maxsize=BUILD_AHEAD)
    settled: list[Result] = []
    finished = asyncio.Event()
    pool = (ProcessPoolExecutor(options.build_processes, mp_context=get_context("fork"),
                                initializer=install, initargs=(job.builder,))
            if options.build_processes > 1 else None)
    recorder = asyncio.create_task(_record(engine, job, settled, finished, now, options))
    try:
        await asyncio.gather(
            _claim_and_build(engine, job, now, options, queue, pool, settled),
            *(_deliver(c, job, queue, limiter, backoff, now, settled) for c in connections))
    finally:
        finished.set()
        await recorder
        await asyncio.gather(*(c.close() for c in connections))
        if pool is not None:
            pool.shutdown()
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
