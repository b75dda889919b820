"""Drive a send: claim batches from the outbox, build each message, push it through a pool
of SMTP connections, settle the results; every database call on that path waits out an
outage, and no message is handed to SMTP while a result cannot be written. The database
is reached only through the outbox's functions; the clock and the secrets come in.

With `sender_processes` N >= 1 this process keeps the outbox (claims, suppression, results,
state, progress, rate limits) and hands the rows to N sender processes (sending.senders),
each building and sending over its share of the pool on a core of its own; with N = 0 it
builds in a thread and sends over the whole pool itself. The state these tasks share (the
gate to SMTP, the rows held, the halt) is a `sending.flow.Flow`.

The send's state is read before every claim and about twice a second while draining: once
it is paused or cancelled nothing more is claimed or handed to SMTP, the transactions on
the wire finish and are written, and the claimed rows never handed over are released. A
draining process logs `send_progress` (counts, rate, remaining) at a steady interval."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import partial

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from publisher.config import Config, Secrets, SendingConfig
from publisher.errors import DatabaseFault
from publisher.logs import log_event
from publisher.mail.assemble import Builder, key_specs, make_builder
from publisher.mail.dkim_signing import keys_from_config
from publisher.mail.mime import SendContext, prepare
from publisher.mail.rendered import RenderedEmail
from publisher.mail.smtp import Connection, Reply, deliver, rate_limiter
from publisher.mail.verp import verp_address
from publisher.outage import RetryPolicy
from publisher.ratelimit import AsyncRateLimiter
from publisher.sending import control, outbox
from publisher.sending.flow import BUILD_AHEAD, UNWRITTEN_MAX, Flow, Item
from publisher.sending.outbox import FAILED, Backoff, Delivery, Result, result_of
from publisher.sending.sender_processes import Sender, Senders, SenderSpec, sender_counts

Progress = Callable[[dict[str, int]], None]


@dataclass
class SendJob:
    """Everything needed to deliver one issue's send."""

    send_id: int
    builder: Builder
    envelope_from_address: str
    envelope: Callable[[Delivery], str] | None = None  # VERP: one return path per delivery
    slug: str = ""

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
    sender_processes: int = 0  # 0: build in a thread, send from here; N: N sender processes
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    hard_bounce_threshold: int = 1
    progress_log_seconds: float = 10.0  # 0: no send_progress log lines
    # the poison-message guard (control.set_aside_lost); the default is [sending]'s
    max_lost_claims: int = SendingConfig().max_lost_claims
    seconds: float | None = None  # claim no batch after this long (None: while any is due)
    ran_out: bool = False  # set by the drain: `seconds` ended it, rows may still be due


def options_from(config: Config, **overrides: object) -> DrainOptions:
    """Drain options from [sending] settings."""
    sending = config.settings.sending
    processes = sending.sender_processes
    if processes is None:
        processes = os.cpu_count() or 1
    options = DrainOptions(batch_size=sending.batch_size,
                           lease=timedelta(seconds=sending.lease_seconds),
                           sender_processes=processes,
                           policy=RetryPolicy(config.settings.database.outage_seconds),
                           hard_bounce_threshold=config.settings.bounces.hard_bounce_threshold,
                           max_lost_claims=sending.max_lost_claims)
    for key, value in overrides.items():
        setattr(options, key, value)
    return options


def make_job(send_id: int, entry_id: str, rendered: RenderedEmail,
             config: Config, secrets: Secrets, started: datetime) -> SendJob:
    """The send's prepared messages (the original's and one per translation, each prepared
    once), personaliser and DKIM keys (from config/secrets)."""
    sender = config.settings.sender
    context = SendContext(
        rendered=rendered, entry_id=entry_id,
        base_url=config.site.base_url, from_name=sender.from_name,
        from_address=sender.from_address, reply_to=sender.reply_to,
        unsubscribe_mailto=sender.unsubscribe_address, site_title=config.site.title,
        date=started)
    domain = sender.from_address.rsplit("@", 1)[1]
    eight_bit = config.settings.email.transfer_encoding == "8bit"
    translations = {language: prepare(replace(context, rendered=translation), eight_bit)
                    for language, translation in rendered.translations.items()}
    builder = make_builder(prepare(context, eight_bit), context, domain,
                           key_specs(keys_from_config(config, secrets)), secrets, translations)
    envelope = None
    if config.settings.bounces.verp:
        key = secrets.signing_key
        envelope = lambda delivery: verp_address(key, delivery.id, domain)  # noqa: E731
    return SendJob(send_id, builder, sender.from_address, envelope, rendered.slug)


Stage = Callable[[SendJob, list[Delivery], Flow], Awaitable[list[Item]]]
RECORD_AT = 32  # results: a smaller set is written once RECORD_EVERY seconds have passed
RECORD_EVERY = 0.1
PROGRESS_EVERY = 0.5  # seconds between two progress counts (a GROUP BY over the send)
STATE_EVERY = 0.5  # seconds between two reads of the send's state (pause, cancel)


async def _claim(engine: Engine, job: SendJob, now: Callable[[], datetime],
                 options: DrainOptions, flow: Flow, stage: Stage) -> None:
    """Producer: claim a batch, make its items (`stage`: build them, or pass the rows on to
    the sender processes), queue them for the connections; then the next batch, so that
    claiming and building overlap sending. With `options.seconds`, no batch is claimed
    once that long has passed: the batch in hand is still sent, and the drain returns."""
    began = asyncio.get_running_loop().time()
    try:
        while not flow.stopping:
            if _past(options.seconds, began):
                options.ran_out = True
                break
            if not flow.see(await flow.db(partial(control.send_state, engine, job.send_id))):
                break
            held = flow.held if flow.recheck_own_rows else None
            flow.recheck_own_rows = False
            dead = await flow.db(partial(outbox.dead_local_workers, engine, job.send_id))
            await _set_aside_lost(engine, job, now(), options, flow, dead)
            batch = await flow.db(partial(
                outbox.claim_batch, engine, job.send_id, options.worker, now(),
                options.batch_size, options.lease, dead, held))
            flow.held.update(d.id for d in batch)
            if not batch:
                if await _wait_for_rest(engine, job, now, options, flow):
                    continue
                break
            skipped = await flow.db(partial(outbox.suppressed, engine, batch))
            for delivery_id, status in skipped.items():
                flow.add(Result(delivery_id, FAILED, f"not sent: subscriber {status}",
                                attempted=False))
            rows = [d for d in batch if d.id not in skipped]
            for first in range(0, len(rows), BUILD_AHEAD):
                if flow.error is not None or flow.halted.is_set():  # the rest stays
                    break  # claimed, unsent (released after a halt)
                for item in await stage(job, rows[first:first + BUILD_AHEAD], flow):
                    if not flow.halted.is_set():
                        await flow.queue.put(item)
    except DatabaseFault:
        pass  # recorded in flow.error; the drain raises it once the connections are done
    finally:
        await flow.queue.put(None)


async def _set_aside_lost(engine: Engine, job: SendJob, now: datetime,
                          options: DrainOptions, flow: Flow, dead: list[str]) -> None:
    """The poison-message guard before each claim: each row set aside is named in a
    `delivery_set_aside` warning."""
    for row in await flow.db(partial(control.set_aside_lost, engine, job.send_id, now,
                                     options.max_lost_claims, options.lease, dead)):
        log_event("delivery_set_aside", issue=job.slug, send_id=job.send_id,
                  delivery_id=row.delivery_id, subscriber_id=row.subscriber_id,
                  lost_claims=row.lost_claims,
                  reason=control.set_aside_reply(row.lost_claims, row.holder))


def _past(seconds: float | None, began: float) -> bool:
    return seconds is not None and asyncio.get_running_loop().time() - began >= seconds


async def _built(job: SendJob, chunk: list[Delivery], flow: Flow) -> list[Item]:
    """Build in a thread; a row that cannot be built fails on its own."""
    by_id = {d.id: d for d in chunk}
    items: list[Item] = []
    for delivery_id, message, error in await asyncio.to_thread(
            job.builder.build_batch,
            [((d.id, d.subscriber_id, d.email, d.name), d.edition) for d in chunk]):
        if message is None:
            flow.add(Result(delivery_id, FAILED, error, attempted=False))
        else:
            items.append((by_id[delivery_id], message))
    return items


async def _unbuilt(_job: SendJob, chunk: list[Delivery], _flow: Flow) -> list[Item]:
    """The sender processes build: the rows go as they are."""
    return [(delivery, None) for delivery in chunk]


async def _deliver(connection: Connection, job: SendJob, flow: Flow,
                   limiter: AsyncRateLimiter, backoff: Backoff,
                   now: Callable[[], datetime]) -> None:
    """Consumer: one SMTP connection sending whatever the producer built, while the gate
    is open; after a give-up or a halt it only empties the queue (those rows stay claimed,
    unsent, and a halt releases them)."""
    while True:
        item = await flow.queue.get()
        if item is None:
            await flow.queue.put(None)  # let the other connections see the end too
            return
        await flow.open.wait()
        delivery, message = item
        if message is None or flow.error is not None or flow.halted.is_set():
            continue
        await limiter.acquire()
        if flow.halted.is_set():
            continue
        reply = await deliver(connection, job.envelope_from(delivery), delivery.email, message)
        flow.add(result_of(delivery, reply, backoff, now()))


async def _send_here(engine: Engine, job: SendJob, config: Config, secrets: Secrets,
                     now: Callable[[], datetime], options: DrainOptions, flow: Flow,
                     limiter: AsyncRateLimiter, backoff: Backoff) -> None:
    """N = 0: build in a thread, send over the whole pool from this event loop."""
    connections = [Connection(config.settings.smtp, secrets)
                   for _ in range(config.settings.smtp.pool_size)]
    try:
        await asyncio.gather(
            _claim(engine, job, now, options, flow, _built),
            *(_deliver(c, job, flow, limiter, backoff, now) for c in connections))
    finally:
        await asyncio.gather(*(c.close() for c in connections))


async def _send_with_senders(engine: Engine, job: SendJob, config: Config, secrets: Secrets,
                             now: Callable[[], datetime], options: DrainOptions,
                             flow: Flow, limiter: AsyncRateLimiter,
                             backoff: Backoff) -> None:
    """N >= 1: claim here, hand the rows to the sender processes, take their results."""
    processes, connections = sender_counts(options.sender_processes,
                                           config.settings.smtp.pool_size)
    spec = SenderSpec.of(job.builder, config.settings.smtp, secrets, connections)

    def outcomes(batch: list[tuple[Delivery, Reply | None, str]]) -> None:
        at = now()
        flow.add_all([Result(delivery.id, FAILED, error, attempted=False) if reply is None
                      else result_of(delivery, reply, backoff, at)
                      for delivery, reply, error in batch])

    senders = Senders(spec, processes, outcomes)
    flow.on_change = partial(_relay, flow, senders)
    stopper = asyncio.create_task(_end_on_stop(flow, senders))
    budget = UNWRITTEN_MAX + config.settings.smtp.pool_size
    try:
        await asyncio.gather(_claim(engine, job, now, options, flow, _unbuilt),
                             _dispatch(job, flow, senders, limiter, budget))
    finally:
        stopper.cancel()
        await senders.close()
        flow.on_change = None


def _relay(flow: Flow, senders: Senders) -> None:
    """The senders follow the gate at once; a halt, a stop or a give-up ends them."""
    if flow.stopping:
        senders.end()
    else:
        senders.gate(flow.open.is_set())
    senders.wake()  # a write may have made room in the budget


async def _end_on_stop(flow: Flow, senders: Senders) -> None:
    await flow.stop.wait()
    senders.end()


async def _dispatch(job: SendJob, flow: Flow, senders: Senders, limiter: AsyncRateLimiter,
                    budget: int) -> None:
    """Hand the queued rows to the sender with the most free credit, in chunks up to that
    credit, while the gate is open and within the rate limits (one row at a time when a
    limit is set); at the end, wait until every row handed over has come back.

    Rows handed over and not yet written (at the senders, or results waiting for their
    write) stay within `budget`, UNWRITTEN_MAX + pool_size: the same window as sending
    from this process, whatever the senders' credit."""
    ended = False
    while not ended:
        item = await flow.queue.get()
        if item is None:
            break
        if flow.stopping or senders.broken:
            continue  # stays claimed, unsent: released at the end
        if not senders.started:
            senders.start()  # only once there is something to send
        await limiter.acquire()
        child, room = await _credit(flow, senders, budget)
        if child is None:
            continue
        rows = [(item[0], job.envelope_from(item[0]))]
        while len(rows) < room and not limiter.buckets and not flow.queue.empty():
            more = flow.queue.get_nowait()
            if more is None:
                ended = True
                break
            rows.append((more[0], job.envelope_from(more[0])))
        senders.hand(child, rows)
    while senders.outstanding and not senders.broken:
        await senders.wait_changed()
    if senders.broken:
        log_event("senders_failed", issue=job.slug, send_id=job.send_id,
                  detail="every sender process died; the rows they held are released")


async def _credit(flow: Flow, senders: Senders, budget: int) -> tuple[Sender | None, int]:
    """Wait for the gate, room in the budget and a sender with free credit: that sender
    and how many rows it may take now; (None, 0) once stopping."""
    while True:
        await flow.open.wait()
        if flow.stopping or senders.broken:
            return None, 0
        child, credit = senders.free()
        room = min(credit, budget - len(flow.settled) - senders.outstanding)
        if child is not None and room > 0:
            return child, room
        await senders.wait_changed()


async def _record(engine: Engine, job: SendJob, flow: Flow, now: Callable[[], datetime],
                  options: DrainOptions) -> None:
    """Write results in small batches, one transaction each, until the senders are done.
    A failed write keeps its results in memory (the gate stays shut) until it succeeds."""
    loop = asyncio.get_running_loop()
    last_write = last_progress = loop.time()
    while flow.error is None:
        done = flow.finished.is_set()
        due = done or loop.time() - last_write >= RECORD_EVERY
        if flow.settled and (len(flow.settled) >= RECORD_AT or due):
            chunk = flow.settled[:]
            try:
                await flow.db(partial(outbox.record_results, engine, chunk, now(),
                                      options.worker, options.hard_bounce_threshold))
            except DatabaseFault:
                return
            flow.written(chunk)
            last_write = loop.time()
            if done or last_write - last_progress >= PROGRESS_EVERY:
                await _report_progress(engine, job, options)
                last_progress = last_write
        elif done:
            return
        else:
            await asyncio.sleep(0.01)


async def _watch_state(engine: Engine, job: SendJob, options: DrainOptions,
                       flow: Flow) -> None:
    """Read the send's state every STATE_EVERY seconds until the drain ends; a pause or a
    cancel halts the drain. Log `send_progress` every `progress_log_seconds`."""
    loop = asyncio.get_running_loop()
    every = options.progress_log_seconds
    last = (loop.time(), await _tally(engine, job)) if every > 0 else None
    try:
        while not flow.finished.is_set() and flow.error is None:
            if not flow.see(await flow.db(partial(control.send_state, engine, job.send_id))):
                return
            if last is not None and loop.time() - last[0] >= every:
                last = await _log_progress(engine, job, last, loop.time())
            try:
                await asyncio.wait_for(flow.finished.wait(), timeout=STATE_EVERY)
            except TimeoutError:
                pass
    except DatabaseFault:
        return  # recorded in flow.error


async def _tally(engine: Engine, job: SendJob) -> dict[str, int] | None:
    try:  # progress is a nicety: a failed read skips one line
        return await asyncio.to_thread(outbox.counts, engine, job.send_id)
    except sa.exc.DBAPIError:
        return None


async def _log_progress(engine: Engine, job: SendJob,
                        last: tuple[float, dict[str, int] | None],
                        at: float) -> tuple[float, dict[str, int] | None]:
    """One `send_progress` line: counts, messages sent per second since the last line,
    and what is left (queued, sending or deferred, by every process)."""
    tally = await _tally(engine, job)
    if tally is None:
        return last
    before, previous = last
    rate = (tally[outbox.SENT] - previous[outbox.SENT]) / (at - before) if previous else None
    log_event("send_progress", issue=job.slug, send_id=job.send_id,
              sent=tally[outbox.SENT], failed=tally[outbox.FAILED],
              deferred=tally[outbox.DEFERRED], cancelled=tally[outbox.CANCELLED],
              remaining=outbox.remaining(tally),
              rate=None if rate is None else round(rate, 1))
    return at, tally


async def _report_progress(engine: Engine, job: SendJob, options: DrainOptions) -> None:
    if options.progress is None:
        return
    try:  # progress is a nicety: a failed read skips one update
        options.progress(await asyncio.to_thread(outbox.counts, engine, job.send_id))
    except sa.exc.DBAPIError:
        pass


async def drain(engine: Engine, job: SendJob, config: Config, secrets: Secrets,
                now: Callable[[], datetime], options: DrainOptions) -> dict[str, int]:
    """Send every due row of the job (within `options.seconds` of claiming, when set);
    returns the counts per state.

    Handed to SMTP and not yet written at any moment: at most UNWRITTEN_MAX results plus
    one transaction per connection (with sender processes: UNWRITTEN_MAX + pool_size rows
    at the senders or waiting for their write); that is the window a SIGKILL can re-send
    (the rest of the claimed batch was never handed over, so it is sent once when claimed
    again). A sender process that dies is replaced and its rows re-sent: at most its
    credit of duplicates. A database fault closes the
    gate to SMTP: the transactions in flight finish, their results wait in memory, and
    nothing more is handed over until the write succeeds; after `outage_seconds` the drain
    gives up with a DatabaseFault that carries the unwritten results. Built messages in
    memory are at most two BUILD_AHEAD chunks (N = 0) or one per connection, whatever the
    audience.
    """
    smtp = config.settings.smtp
    backoff = Backoff(smtp.backoff_base_seconds, smtp.backoff_max_seconds, smtp.max_attempts)
    limiter = rate_limiter(smtp, asyncio.get_running_loop().time)
    flow = Flow(options.policy, options.stop or asyncio.Event())
    send = _send_with_senders if options.sender_processes > 0 else _send_here
    recorder = asyncio.create_task(_record(engine, job, flow, now, options))
    watcher = asyncio.create_task(_watch_state(engine, job, options, flow))
    try:
        await send(engine, job, config, secrets, now, options, flow, limiter, backoff)
    finally:
        flow.finished.set()
        await recorder
        await watcher
    if flow.error is not None:
        flow.error.unrecorded = list(flow.settled)
        raise flow.error
    return await _finish(engine, job, now, options, flow)


async def _finish(engine: Engine, job: SendJob, now: Callable[[], datetime],
                  options: DrainOptions, flow: Flow) -> dict[str, int]:
    """Release what a halt left claimed and never handed over (and, on a cancelled send,
    cancel a deferred result written after the cancel); end the send when all is settled."""
    state = await flow.db(partial(control.send_state, engine, job.send_id))
    if flow.held or state == outbox.SEND_CANCELLED:
        await flow.db(partial(control.release, engine, job.send_id, set(flow.held),
                              options.worker, now()))
        flow.held.clear()
    if await flow.db(partial(outbox.is_finished, engine, job.send_id)):
        await flow.db(partial(outbox.mark_done, engine, job.send_id, now()))
    return await flow.db(partial(outbox.counts, engine, job.send_id))


async def _wait_for_rest(engine: Engine, job: SendJob, now: Callable[[], datetime],
                         options: DrainOptions, flow: Flow) -> bool:
    """With wait_for_deferred (`send --wait`), stay while any row of the send is queued,
    sending (ours in flight, or another process's) or deferred: sleep until the next one
    is due and claim again. False when nothing is left (or without the option)."""
    if not options.wait_for_deferred or flow.stopping:
        return False
    tally = await flow.db(partial(outbox.counts, engine, job.send_id))
    if outbox.remaining(tally) == 0:
        return False
    delay = 0.2 if flow.held else 1.0  # our own results are on their way: look again soon
    if not flow.held and tally[outbox.DEFERRED]:
        due = await flow.db(partial(outbox.next_due, engine, job.send_id))
        if due is not None:
            delay = min(max(0.0, (due - now()).total_seconds()), 60.0) + 0.01
    await flow.pause_for(delay)
    return True
