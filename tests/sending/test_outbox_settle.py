"""Settling a batch of results, on SQLite and PostgreSQL: one UPDATE for the whole batch
(not one per row), every column as each result says, and a second write of the same results
(a commit whose reply was lost) changes nothing, hard bounces included."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from publisher.db import deliveries, open_database, subscriber_events, subscriber_table
from publisher.mail.rendered import RenderedEmail
from publisher.sending import outbox
from publisher.sending.outbox import DEFERRED, FAILED, SENDING, SENT, Result
from tests.sending.helpers import T0, add_confirmed

READERS = 40
WORKER = "host:1"
SETTLED_AT = T0 + timedelta(minutes=1)


def claimed_send(url: str) -> tuple[Engine, list[outbox.Delivery]]:
    """A send of READERS rows, all claimed by WORKER at T0."""
    engine = open_database(url)
    add_confirmed(engine, READERS)
    rendered = RenderedEmail(slug="s", subject="s", language="en", html="<p>h</p>", text="t")
    send_id = outbox.start_send(engine, "tag:s", rendered, T0)
    return engine, outbox.claim_batch(engine, send_id, WORKER, T0, READERS)


def mixed_results(batch: list[outbox.Delivery]) -> list[Result]:
    """Sent, deferred (with its next attempt), failed unattempted, and hard bounces."""
    results = []
    for n, delivery in enumerate(batch):
        kind = n % 4
        if kind == 0:
            results.append(Result(delivery.id, SENT, f"250 ok {n}"))
        elif kind == 1:
            results.append(Result(delivery.id, DEFERRED, "451 later",
                                  next_attempt_at=T0 + timedelta(minutes=n)))
        elif kind == 2:
            results.append(Result(delivery.id, FAILED, "not sent: subscriber left",
                                  attempted=False))
        else:
            results.append(Result(delivery.id, FAILED, f"550 5.1.1 no such user {n}",
                                  hard_bounce=True))
    return results


@contextmanager
def updates_of_deliveries(engine: Engine) -> Iterator[list[int]]:
    """The UPDATE statements run on the deliveries table, as the server runs them (an
    executemany of N parameter sets is N statements)."""
    seen: list[int] = []

    def count(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any,
              executemany: bool) -> None:
        if "UPDATE deliveries" in statement:
            seen.append(len(parameters) if executemany else 1)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)


def rows_of(engine: Engine) -> list[tuple[Any, ...]]:
    c = deliveries.c
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(
            sa.select(c.id, c.status, c.last_reply, c.next_attempt_at, c.sent_at, c.attempts,
                      c.claimed_by, c.updated_at).order_by(c.id))]


def subscribers_of(engine: Engine) -> list[tuple[Any, ...]]:
    s = subscriber_table.c
    with engine.connect() as conn:
        people = [tuple(row) for row in conn.execute(
            sa.select(s.id, s.status, s.bounce_count, s.updated_at).order_by(s.id))]
        events = conn.execute(sa.select(sa.func.count()).select_from(subscriber_events))
        return [*people, (events.scalar_one(),)]


def test_a_batch_of_results_settles_in_one_update_with_each_rows_values(
        database_url: str) -> None:
    engine, batch = claimed_send(database_url)
    results = mixed_results(batch)
    with updates_of_deliveries(engine) as updates:
        outbox.record_results(engine, results, SETTLED_AT, WORKER)
    assert updates == [1]
    by_id = {r.delivery_id: r for r in results}
    for delivery_id, status, reply, next_at, sent_at, attempts, claimed_by, updated_at in \
            rows_of(engine):
        result = by_id[delivery_id]
        assert (status, reply, next_at) == (result.status, result.reply,
                                            result.next_attempt_at)
        assert sent_at == (SETTLED_AT if result.status == SENT else None)
        assert attempts == int(result.attempted)
        assert (claimed_by, updated_at) == (None, SETTLED_AT)
    bounced = {d.subscriber_id for d, r in zip(batch, results, strict=True) if r.hard_bounce}
    with engine.connect() as conn:
        counted = dict(conn.execute(sa.select(subscriber_table.c.id,
                                              subscriber_table.c.bounce_count)).all())
    assert {i for i, n in counted.items() if n} == bounced
    assert set(counted.values()) == {0, 1}


def test_writing_the_same_results_again_after_a_lost_reply_changes_nothing(
        database_url: str) -> None:
    engine, batch = claimed_send(database_url)
    results = mixed_results(batch)
    outbox.record_results(engine, results, SETTLED_AT, WORKER)
    settled, people = rows_of(engine), subscribers_of(engine)
    outbox.record_results(engine, results, SETTLED_AT + timedelta(minutes=1), WORKER)
    assert rows_of(engine) == settled
    assert subscribers_of(engine) == people


def test_only_rows_still_sending_under_this_worker_change(database_url: str) -> None:
    engine, batch = claimed_send(database_url)
    taken_over, mine = batch[:READERS // 2], batch[READERS // 2:]
    with engine.begin() as conn:  # another worker took these back (a lease that ran out)
        conn.execute(deliveries.update().where(deliveries.c.id.in_([d.id for d in taken_over]))
                     .values(claimed_by="host:2"))
    outbox.record_results(engine, [Result(d.id, SENT, "250 ok") for d in batch],
                          SETTLED_AT, WORKER)
    states = {row[0]: (row[1], row[5], row[6]) for row in rows_of(engine)}
    assert {states[d.id] for d in taken_over} == {(SENDING, 0, "host:2")}
    assert {states[d.id] for d in mine} == {(SENT, 1, None)}


def stored(engine: Engine) -> list[tuple[Any, ...]]:
    """The rows as SQLite holds them (timestamps as their text, not parsed)."""
    with engine.connect() as conn:
        return [tuple(row) for row in conn.exec_driver_sql(
            "SELECT id, status, last_reply, next_attempt_at, sent_at, attempts, claimed_by, "
            "updated_at FROM deliveries ORDER BY id")]


def test_sqlite_before_3_33_settles_row_by_row_to_the_same_stored_values(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No UPDATE … FROM before SQLite 3.33: one UPDATE per row, with the same outcome, down
    to the text of each timestamp (what the claims compare)."""
    settled = []
    for version in ((3, 40, 0), (3, 31, 1)):
        monkeypatch.setattr(sqlite3, "sqlite_version_info", version)
        engine, batch = claimed_send(f"sqlite:///{tmp_path / f'{version[1]}.db'}")
        with updates_of_deliveries(engine) as updates:
            outbox.record_results(engine, mixed_results(batch), SETTLED_AT, WORKER)
        assert updates == ([1] if version >= (3, 33) else [READERS])
        settled.append(stored(engine))
    assert settled[0] == settled[1]
    assert {row[1] for row in settled[0]} == {SENT, DEFERRED, FAILED}
