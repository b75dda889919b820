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
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from publisher.db import deliveries, sends
from publisher.errors import SendError
from publisher.sending.outbox import (
    CANCELLED,
    DEFERRED,
    FAILED,
    QUEUED,
    SEND_ACTIVE,
    SEND_CANCELLED,
    SEND_PAUSED,
    SENDING,
    dead_local_workers,
)


def send_state(engine: Engine, send_id: int) -> str:
    """sending | paused | cancelled | done."""
    with engine.connect() as conn:
        return str(conn.execute(sa.select(sends.c.status).where(sends.c.id == send_id))
                   .scalar_one())


def pause(engine: Engine, send_id: int, now: datetime) -> bool:
    """Stop new claims of a sending send; False when it was not sending."""
    with engine.begin() as conn:
        changed = conn.execute(sends.update()
                               .where(sends.c.id == send_id, sends.c.status == SEND_ACTIVE)
                               .values(status=SEND_PAUSED, paused_at=now)).rowcount
    return bool(changed)


def resume(engine: Engine, send_id: int) -> bool:
    """Let a paused send be claimed again, from where it stopped; False when not paused."""
    with engine.begin() as conn:
        changed = conn.execute(sends.update()
                               .where(sends.c.id == send_id, sends.c.status == SEND_PAUSED)
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
                                      sends.c.status.in_([SEND_ACTIVE, SEND_PAUSED]))
                               .values(status=SEND_CANCELLED, cancelled_at=now,
                                       finished_at=now)).rowcount
        if not changed:
            return None
        return _cancel_open(conn, send_id, now)


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
                              .values(status=QUEUED, attempts=0, next_attempt_at=None,
                                      updated_at=now))
    return int(result.rowcount)


CANCELLED_REPLY = "cancelled by the operator"
LOST_REPLY = ("cancelled by the operator; its process stopped before recording a result, "
              "so it may have been delivered")


def release(engine: Engine, send_id: int, ids: Collection[int], worker: str,
            now: datetime) -> int:
    """Give back rows this worker claimed and never handed to SMTP: queued again (the
    claim's attempt undone) while the send is paused or sending, cancelled when it was
    cancelled, together with any row of it still queued or deferred. Returns how many."""
    c = deliveries.c
    with engine.begin() as conn:
        state = conn.execute(sa.select(sends.c.status).where(sends.c.id == send_id)).scalar_one()
        mine = sa.and_(c.send_id == send_id, c.status == SENDING, c.claimed_by == worker,
                       c.id.in_(list(ids)))
        if state != SEND_CANCELLED:
            return int(conn.execute(deliveries.update().where(mine).values(
                status=QUEUED, attempts=c.attempts - 1, claimed_by=None, claimed_at=None,
                updated_at=now)).rowcount)
        released = conn.execute(deliveries.update().where(mine).values(
            status=CANCELLED, attempts=c.attempts - 1, claimed_by=None,
            last_reply=CANCELLED_REPLY, updated_at=now)).rowcount
        _cancel_open(conn, send_id, now)
    return int(released)


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
        dead = dead_local_workers(engine, send_id)
        lost = sa.or_(c.claimed_at < now - lease,
                      c.claimed_by.in_(dead) if dead else sa.false())
        with engine.begin() as conn:
            settled += _cancel_open(conn, send_id, now)
            settled += int(conn.execute(deliveries.update()
                                        .where(c.send_id == send_id, c.status == SENDING, lost)
                                        .values(status=CANCELLED, claimed_by=None,
                                                last_reply=LOST_REPLY, updated_at=now)).rowcount)
    return settled
