"""One-off mails (the double opt-in confirmation) through the durable outbox.

A web request only writes a row, so its answer takes the same time whoever asks, and an SMTP
server that is down loses nothing: `enqueue_confirmation` adds the subscriber's row to the
standing send `oneoff:confirm` (kind "oneoff": made on first use and never done, so never
pruned), or queues their settled row again, in the caller's transaction.

Whatever drains the outbox sends it: every tick of `publisher run` (workers too), and in
`publisher serve` a `Courier` task on the server's event loop, started at start-up (or by
the first request), woken by each request that wrote a row, and looking again when a
deferred row is due and at least every minute (rows resumed or released from the console).
Rows are claimed, built at send time (the link's 7 days start then), sent on one SMTP
connection per round and settled as every delivery is (publisher.sending.outbox): deferred
on the [smtp] backoff, failed after max_attempts or on a 5xx, counted in `status`, `report`
and the console. A row whose subscriber is no longer pending (confirmed meanwhile, left,
erased) fails as "not sent: subscriber <status>"; the others are written in their reader's
language as stored when the row is sent, each with its own VERP return path when
`[bounces] verp` is on. This module is one of the outbox's writers (its send row and its
delivery rows).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from publisher.config import Config, Secrets
from publisher.db import deliveries, sends
from publisher.logs import log_event
from publisher.mail import smtp
from publisher.mail.verp import verp_address
from publisher.mail.wire import Outgoing
from publisher.outage import reason
from publisher.sending import outbox
from publisher.sending.outbox import FAILED, Backoff, Delivery, Result, result_of
from publisher.subscribers import store
from publisher.subscribers.confirmation import (
    WireForm,
    confirmation_message,
    confirmation_subject,
    wire_form,
)
from publisher.tokens import TokenSigner, confirm_token

KIND = outbox.ONEOFF_KIND
CONFIRM = f"{KIND}:confirm"  # the standing send of confirmation mails
BATCH = 20  # rows claimed at once
LOOK_AGAIN_SECONDS = 60.0  # a courier looks at least this often
AFTER_ERROR_SECONDS = 5.0  # a courier whose round failed (the database away) tries again


def is_oneoff(slug: str) -> bool:
    """A send of one-off mails (drained here, not as an issue)."""
    return slug.startswith(f"{KIND}:")


def _insert(conn: Connection) -> Any:
    return (sqlite if conn.dialect.name == "sqlite" else postgresql).insert


def _standing_send(conn: Connection, config: Config, now: datetime) -> int:
    """The id of the confirmations' send, made (sending) by the first call."""
    query = sa.select(sends.c.id).where(sends.c.issue_slug == CONFIRM)
    found = conn.execute(query).scalar()
    if found is None:
        conn.execute(_insert(conn)(sends).values(
            issue_slug=CONFIRM, entry_id=f"tag:{config.site.domain},{now.date()}:{CONFIRM}",
            subject=confirmation_subject(config)[:998], status=outbox.SEND_ACTIVE,
            audience_count=0, created_at=now, kind=KIND,
        ).on_conflict_do_nothing(index_elements=["issue_slug"]))
        found = conn.execute(query).scalar_one()
    return int(found)


def enqueue_confirmation(conn: Connection, config: Config, subscriber: store.Subscriber,
                         now: datetime) -> None:
    """Queue the subscriber's confirmation mail in the caller's transaction: a new row, or
    their settled row queued again as new (one still queued, in flight or deferred stays)."""
    send_id = _standing_send(conn, config, now)
    fresh = {"email": subscriber.email, "name": subscriber.name, "status": outbox.QUEUED,
             "attempts": 0, "updated_at": now}
    statement = _insert(conn)(deliveries).values(send_id=send_id,
                                                 subscriber_id=subscriber.id, **fresh)
    conn.execute(statement.on_conflict_do_update(
        index_elements=["send_id", "subscriber_id"],
        set_={**fresh, "next_attempt_at": None, "claimed_by": None, "claimed_at": None,
              "last_reply": None, "sent_at": None},
        where=deliveries.c.status.not_in(outbox.OPEN_STATES)))


@dataclass
class OneOffs:
    """Sending the due one-off rows: what that needs is made once per process (the token
    signer, the DKIM keys). Results that could not be written (the database away) are kept
    and written before the next claim, so a sent mail is not sent again when its lease ends."""

    engine: Engine
    config: Config
    secrets: Secrets
    clock: Callable[[], datetime]
    worker: str = field(default_factory=outbox.worker_id)
    unrecorded: list[Result] = field(default_factory=list)

    @cached_property
    def wire(self) -> WireForm:
        return wire_form(self.config, self.secrets, self.clock)

    @cached_property
    def signer(self) -> TokenSigner:
        return TokenSigner(self.secrets.secret_keys)

    @property
    def backoff(self) -> Backoff:
        config = self.config.settings.smtp
        return Backoff(config.backoff_base_seconds, config.backoff_max_seconds,
                       config.max_attempts)

    async def drain(self) -> dict[str, int]:
        """Send every due row, a batch at a time; the rows settled, by state. A database
        error ends the drain (raised), keeping the results it could not write."""
        settled: Counter[str] = Counter()
        if self.unrecorded:
            settled.update(await self._record(self.unrecorded[:]))
        send_id = await asyncio.to_thread(outbox.find_send, self.engine, CONFIRM)
        if send_id is None:
            return dict(settled)
        connection = smtp.Connection(self.config.settings.smtp, self.secrets)
        try:
            while batch := await asyncio.to_thread(self._claim, send_id):
                self.unrecorded = await self._send(connection, batch)
                settled.update(await self._record(self.unrecorded))
        finally:
            await connection.close()
        return dict(settled)

    async def _record(self, results: list[Result]) -> Counter[str]:
        await asyncio.to_thread(outbox.record_results, self.engine, results, self.clock(),
                                self.worker, self.config.settings.bounces.hard_bounce_threshold)
        self.unrecorded = []
        return Counter(result.status for result in results)

    def next_due(self) -> datetime | None:
        """When the earliest deferred row is due (None: nothing deferred)."""
        send_id = outbox.find_send(self.engine, CONFIRM)
        return outbox.next_due(self.engine, send_id) if send_id is not None else None

    def _claim(self, send_id: int) -> list[Delivery]:
        lease = timedelta(seconds=self.config.settings.sending.lease_seconds)
        dead = outbox.dead_local_workers(self.engine, send_id)
        return outbox.claim_batch(self.engine, send_id, self.worker, self.clock(), BATCH,
                                  lease, dead)

    def _readers(self, batch: list[Delivery]) -> tuple[dict[int, str], dict[int, str | None]]:
        """The status and the language of each row's subscriber, as stored now."""
        ids = [d.subscriber_id for d in batch]
        with self.engine.connect() as conn:
            return store.statuses(conn, ids), store.languages(conn, ids)

    async def _send(self, connection: smtp.Connection, batch: list[Delivery]) -> list[Result]:
        statuses, languages = await asyncio.to_thread(self._readers, batch)
        results = []
        for delivery in batch:
            status = statuses.get(delivery.subscriber_id, "erased")
            if status != store.PENDING:
                results.append(Result(delivery.id, FAILED, f"not sent: subscriber {status}"))
                continue
            try:
                message = self._message(delivery, languages.get(delivery.subscriber_id))
            except Exception as exc:  # noqa: BLE001 - a bad address or name fails its own row
                results.append(Result(delivery.id, FAILED, f"not sent: {exc}"))
                continue
            reply = await smtp.deliver(connection, self._envelope_from(delivery),
                                       delivery.email, message)
            results.append(result_of(delivery, reply, self.backoff, self.clock()))
        return results

    def _envelope_from(self, delivery: Delivery) -> str:
        """The return path: with `[bounces] verp`, one per row as for issues, so that a
        confirmation to an address that does not exist bounces onto its own row."""
        sender = self.config.settings.sender.from_address
        if not self.config.settings.bounces.verp:
            return sender
        return verp_address(self.secrets.signing_key, delivery.id, sender.rsplit("@", 1)[1])

    def _message(self, delivery: Delivery, language: str | None) -> Outgoing:
        token = confirm_token(self.signer, delivery.subscriber_id, delivery.email)
        return self.wire(confirmation_message(self.config, delivery.email, delivery.name,
                                              token, self.clock(), language))


class Courier:
    """`publisher serve`'s sender of one-off mails: a task on the server's event loop that
    drains when woken, when the first deferred row is due and at least every
    LOOK_AGAIN_SECONDS; every database call runs in a thread."""

    def __init__(self, oneoffs: Callable[[], OneOffs]) -> None:
        self._make = oneoffs
        self._task: asyncio.Task[None] | None = None
        self._wanted = asyncio.Event()

    @cached_property
    def oneoffs(self) -> OneOffs:
        return self._make()

    def wake(self) -> None:
        """Drain soon: after a request wrote a row, and at start-up."""
        self._wanted.set()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        """Stop the task (a row it had claimed is taken again once its lease runs out)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            self._wanted.clear()
            wait = await self._round()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wanted.wait(), wait)

    async def _round(self) -> float:
        """One drain; the seconds until the next look."""
        try:
            settled = await self.oneoffs.drain()
            due = await asyncio.to_thread(self.oneoffs.next_due)
        except Exception as exc:  # noqa: BLE001 - logged; the courier must outlive it
            log_event("oneoff_failed", error=type(exc).__name__, reason=reason(exc))
            return AFTER_ERROR_SECONDS
        if settled:
            log_event("oneoff_drained", send=CONFIRM, **settled)
        if due is None:
            return LOOK_AGAIN_SECONDS
        return min(max(0.0, (due - self.oneoffs.clock()).total_seconds()), LOOK_AGAIN_SECONDS)
