"""Operator control of a send: pause, resume, cancel, retry failed, and releasing claims.

A send is sending, paused, cancelled or done. Claims happen only while it is sending (the
condition is inside the outbox's claim statement), so a pause or cancel committed before a
claim is honoured by every process. A drain that sees the pause releases the rows it
claimed and never handed to SMTP (`release`: back to queued, or cancelled when the send was
cancelled); a paused send's rows that a dead process left `sending` are claimed again on
resume, like any interrupted claim. A cancelled send is never claimed again, so its rows
still `sending` are settled by `settle_cancelled` (run by `publisher cancel` and every
daemon tick): those of a dead process on this host, or whose lease has run out, become
cancelled with a reply saying they may have been delivered (the process died between the
hand-over and the write); a live worker's are left to it. Queued or deferred rows a worker
wrote after the cancel are cancelled by the same sweep. `done` and `cancelled` are never
overwritten here: the outbox's mark_done only ends a sending send, retry_failed never
reopens a cancelled or pruned one. Only enrolment reopens a cancelled send, and only an
automation step's: its cancel ends the rows it had, and the next reader enrolled (once none
of those rows is in flight) makes it sending again (publisher.sending.enrolment).

The poison-message guard (`set_aside_lost`, before each claim): a row that `max_lost_claims`
processes have lost (each stopped while holding it: killed, crashed, out of memory) is not
taken back once more but failed with a reply that says so and that its server never refused
it; `retry_failed` gives it a fresh count. Lost claims never spend a reader's attempts.

A cancel is told with one count, the same on the console's question and notice and in the
CLI: deliveries not sent yet (`outbox.remaining`) before it, and after it the rows it
cancelled once the rows in flight are recorded (`cancel_and_settle` waits up to
SETTLE_SECONDS for them; what a process still holds is said as in flight).

A paused send is resumed only by `publisher resume`, a cancelled one never: `send` and
`retry` refuse them (`refuse_if_halted`) with the line `state_line` says; a pause, resume
or cancel of a send in another state is refused with the line `refusal` says.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from publisher import events
from publisher.content.automations import SEND_PREFIX
from publisher.db import deliveries, sends
from publisher.errors import SendError, SendNotFound
from publisher.sending.outbox import (
    CANCELLED,
    DEFERRED,
    FAILED,
    ONEOFF_KIND,
    QUEUED,
    SEND_ACTIVE,
    SEND_CANCELLED,
    SEND_PAUSED,
    SENDING,
    SENT,
    counts,
    dead_local_workers,
    remaining,
)

# How long a cancel waits for the rows on the wire to be recorded: a draining process sees
# the cancel within half a second and writes what its transactions return.
SETTLE_SECONDS = 10.0


def send_state(engine: Engine, send_id: int) -> str:
    """sending | paused | cancelled | done; SendNotFound when there is no such send."""
    with engine.connect() as conn:
        state = conn.execute(sa.select(sends.c.status).where(sends.c.id == send_id)).scalar()
    if state is None:
        raise SendNotFound(f"no send with id {send_id}")
    return str(state)


# The standing send of one-off mails (confirmations) is never paused, resumed or cancelled:
# halted, nobody could confirm. Every caller (CLI, console, API) meets this same refusal.
STEERABLE = sa.or_(sends.c.kind.is_(None), sends.c.kind != ONEOFF_KIND)


def pause(engine: Engine, send_id: int, now: datetime) -> bool:
    """Stop new claims of a sending send; False when it was not sending."""
    with engine.begin() as conn:
        changed = conn.execute(sends.update()
                               .where(sends.c.id == send_id, sends.c.status == SEND_ACTIVE,
                                      STEERABLE)
                               .values(status=SEND_PAUSED, paused_at=now)).rowcount
        if changed:
            events.send_event(conn, events.SEND_PAUSED, send_id, now)
    return bool(changed)


def resume(engine: Engine, send_id: int) -> bool:
    """Let a paused send be claimed again, from where it stopped; False when not paused."""
    with engine.begin() as conn:
        changed = conn.execute(sends.update()
                               .where(sends.c.id == send_id, sends.c.status == SEND_PAUSED,
                                      STEERABLE)
                               .values(status=SEND_ACTIVE, paused_at=None)).rowcount
    return bool(changed)


def cancel(engine: Engine, send_id: int, now: datetime) -> int | None:
    """End a sending or paused send for good: its queued and deferred rows become
    cancelled in the same transaction. Returns how many, or None when the send was
    already done or cancelled. Rows in flight are settled by their worker as usual (and
    `release` or `settle_cancelled` cancels what it leaves)."""
    with engine.begin() as conn:
        changed = conn.execute(sends.update()
                               .where(sends.c.id == send_id,
                                      sends.c.status.in_([SEND_ACTIVE, SEND_PAUSED]),
                                      STEERABLE)
                               .values(status=SEND_CANCELLED, cancelled_at=now,
                                       finished_at=now)).rowcount
        if not changed:
            return None
        cancelled = _cancel_open(conn, send_id, now)
        events.send_event(conn, events.SEND_CANCELLED, send_id, now)
        return cancelled


def retry_failed(engine: Engine, send_id: int, now: datetime) -> int:
    """Put failed rows back in the queue on the operator's request; returns how many (none
    for a cancelled send: cancel is final). A done send is sending again; a paused one
    stays paused. A pruned send is refused: its frozen email is gone."""
    c = deliveries.c
    with engine.begin() as conn:
        pruned = conn.execute(sa.select(sends.c.issue_slug).where(
            sends.c.id == send_id, sends.c.pruned_at.is_not(None))).scalar()
        if pruned is not None:
            raise SendError(f"{pruned}: pruned by `publisher db prune`; its email is no "
                            "longer stored, so its failed deliveries cannot be sent again")
        reopened = conn.execute(sends.update()
                                .where(sends.c.id == send_id, sends.c.status != SEND_CANCELLED)
                                .values(status=sa.case((sends.c.status == SEND_PAUSED,
                                                        SEND_PAUSED), else_=SEND_ACTIVE),
                                        finished_at=None)).rowcount
        if not reopened:
            return 0
        result = conn.execute(deliveries.update()
                              .where(c.send_id == send_id, c.status == FAILED)
                              .values(status=QUEUED, attempts=0, lost_claims=0,
                                      next_attempt_at=None, updated_at=now))
    return int(result.rowcount)


CANCELLED_REPLY = "cancelled by the operator"
LOST_REPLY = ("cancelled by the operator; its process stopped before recording a result, "
              "so it may have been delivered")


def release(engine: Engine, send_id: int, ids: Collection[int], worker: str,
            now: datetime) -> int:
    """Give back rows this worker claimed and never handed to SMTP: queued again while the
    send is paused or sending (a claim spent no attempt), cancelled when it was cancelled,
    together with any row of it still queued or deferred. Returns how many."""
    c = deliveries.c
    with engine.begin() as conn:
        state = conn.execute(sa.select(sends.c.status).where(sends.c.id == send_id)).scalar_one()
        mine = sa.and_(c.send_id == send_id, c.status == SENDING, c.claimed_by == worker,
                       c.id.in_(list(ids)))
        if state != SEND_CANCELLED:
            return int(conn.execute(deliveries.update().where(mine).values(
                status=QUEUED, claimed_by=None, claimed_at=None, updated_at=now)).rowcount)
        released = conn.execute(deliveries.update().where(mine).values(
            status=CANCELLED, claimed_by=None, last_reply=CANCELLED_REPLY,
            updated_at=now)).rowcount
        _cancel_open(conn, send_id, now)
    return int(released)


@dataclass(frozen=True)
class SetAside:
    """A row the poison-message guard set aside: `lost_claims` processes stopped while
    holding it, the last of them `holder`."""

    delivery_id: int
    subscriber_id: int
    lost_claims: int
    holder: str


def set_aside_reply(lost: int, holder: str) -> str:
    """The reply a set-aside row keeps: why it was not sent, and that its server never
    refused it."""
    return (f"not sent: set aside after {lost} lost claims (processes that stopped while "
            f"holding it, the last {holder}); its server never refused it: `publisher "
            "retry` sends it again")


def set_aside_lost(engine: Engine, send_id: int, now: datetime, max_lost_claims: int,
                   lease: timedelta = timedelta(minutes=10),
                   dead_workers: Sequence[str] = ()) -> list[SetAside]:
    """Fail the rows of a send that a dead process (or one past its lease) holds and that
    `max_lost_claims` processes have now lost, with a reply naming the guard; commit.
    Run before a claim, so that such a row is never taken back once more."""
    c = deliveries.c
    where = sa.and_(c.send_id == send_id, c.status == SENDING, _lost(now, lease, dead_workers),
                    c.lost_claims + 1 >= max_lost_claims)
    with engine.begin() as conn:
        rows = conn.execute(sa.select(c.id, c.subscriber_id, c.lost_claims, c.claimed_by)
                            .where(where)).all()
        found = []
        for row in (SetAside(int(i), int(s), int(n) + 1, str(by)) for i, s, n, by in rows):
            if conn.execute(deliveries.update().where(c.id == row.delivery_id, where).values(
                    status=FAILED, lost_claims=row.lost_claims, claimed_by=None,
                    updated_at=now, last_reply=set_aside_reply(row.lost_claims, row.holder))
                            ).rowcount:  # not taken over by another worker meanwhile
                found.append(row)
    return found


def _cancel_open(conn: Connection, send_id: int, now: datetime) -> int:
    c = deliveries.c
    return int(conn.execute(deliveries.update()
                            .where(c.send_id == send_id, c.status.in_([QUEUED, DEFERRED]))
                            .values(status=CANCELLED, next_attempt_at=None,
                                    last_reply=CANCELLED_REPLY, updated_at=now)).rowcount)


def settle_cancelled(engine: Engine, now: datetime, lease: timedelta) -> int:
    """Close what cancelled sends still have open: queued and deferred rows, and rows left
    `sending` by a dead process on this host or past their lease (those may have been
    delivered, and their reply says so). A live worker's rows are left to it. Cheap when
    nothing is open (one indexed EXISTS per cancelled send)."""
    c = deliveries.c
    open_rows = sa.exists().where(c.send_id == sends.c.id,
                                  c.status.in_([QUEUED, DEFERRED, SENDING]))
    with engine.connect() as conn:
        ids = [int(i) for i in conn.execute(sa.select(sends.c.id).where(
            sends.c.status == SEND_CANCELLED, open_rows)).scalars()]
    settled = 0
    for send_id in ids:
        lost = _lost(now, lease, dead_local_workers(engine, send_id))
        with engine.begin() as conn:
            settled += _cancel_open(conn, send_id, now)
            settled += int(conn.execute(deliveries.update()
                                        .where(c.send_id == send_id, c.status == SENDING, lost)
                                        .values(status=CANCELLED, claimed_by=None,
                                                last_reply=LOST_REPLY, updated_at=now)).rowcount)
    return settled


def _lost(now: datetime, lease: timedelta, dead: Sequence[str]) -> Any:
    """Rows whose claim is lost: held by a dead process on this host, or past their lease."""
    c = deliveries.c
    return sa.or_(c.claimed_at < now - lease, c.claimed_by.in_(list(dead)) if dead else sa.false())


@dataclass(frozen=True)
class CancelOutcome:
    """What a cancel left, as the console and the CLI both say it."""

    sent: int
    cancelled: int  # never sent, never will be
    in_flight: int  # still held by a live process, which records each as sent or cancelled


def outcome(tally: dict[str, int]) -> CancelOutcome:
    """A cancelled send's outcome from its counts per state."""
    return CancelOutcome(sent=tally[SENT], cancelled=tally[CANCELLED],
                         in_flight=tally[SENDING] + tally[QUEUED] + tally[DEFERRED])


def cancel_and_settle(engine: Engine, send_id: int, now: datetime, lease: timedelta,
                      wait: float = SETTLE_SECONDS, sleep: Callable[[float], None] = time.sleep,
                      monotonic: Callable[[], float] = time.monotonic) -> CancelOutcome | None:
    """Cancel a sending or paused send, then wait (up to `wait` seconds) until the rows in
    flight are recorded, so the count it returns is final; None when the send was already
    done or cancelled."""
    if cancel(engine, send_id, now) is None:
        return None
    deadline = monotonic() + wait
    while True:
        settle_cancelled(engine, now, lease)
        result = outcome(counts(engine, send_id))
        if not result.in_flight or monotonic() >= deadline:
            return result
        sleep(0.1)


def step_note(slug: str) -> str:
    """A step's cancel ends the rows it had, not the step: say how to switch it off."""
    if not slug.startswith(SEND_PREFIX):
        return ""
    return (f"; the step still enrols new readers (`publisher automations disable "
            f"{slug.removeprefix(SEND_PREFIX)}` switches it off)")


def state_line(slug: str, state: str, tally: dict[str, int]) -> str:
    """What a paused or cancelled send has done and what continues it, in one line."""
    sent, left = tally[SENT], remaining(tally)
    if state == SEND_PAUSED:
        return (f"{slug} is paused: {sent} sent, {left} left; `publisher resume {slug}` "
                f"continues it")
    if state == SEND_CANCELLED:
        return (f"{slug} was cancelled (final): {sent} sent, {tally[CANCELLED]} "
                f"cancelled, never sent{step_note(slug)}")
    return f"{slug} is {state}: {sent} sent, {left} left"


ONLY_SENDING = "a sending send can be paused"
ONLY_PAUSED = "a paused send can be resumed"
ONLY_OPEN = "a sending or paused send can be cancelled"


def refusal(engine: Engine, send_id: int, what: str) -> str:
    """Why pause, resume or cancel was refused (`what` says which sends it takes): the
    send's state, and for a paused or cancelled one what it has done (the CLI and the API
    say the same)."""
    with engine.connect() as conn:
        slug, state = conn.execute(sa.select(sends.c.issue_slug, sends.c.status)
                                   .where(sends.c.id == send_id)).one()
    if slug.startswith(f"{ONEOFF_KIND}:"):
        return (f"{slug}: the one-off mails (confirmations) are not a send to steer; each is "
                "retried until it goes or gives up")
    hint = f"; {state_line(slug, state, counts(engine, send_id))}" if state in (
        SEND_PAUSED, SEND_CANCELLED) else ""
    return f"{slug} is {state}: only {what}{hint}"


def refuse_if_halted(engine: Engine, slug: str, send_id: int) -> None:
    """A paused send is resumed only by `publisher resume`; a cancelled one never."""
    state = send_state(engine, send_id)
    if state in (SEND_PAUSED, SEND_CANCELLED):
        raise SendError(state_line(slug, state, counts(engine, send_id)))
