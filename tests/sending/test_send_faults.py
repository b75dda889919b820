"""Scripted SMTP faults: after retries every deliverable subscriber has exactly one message,
permanent refusals fail at once and count as bounces, backoff follows the configuration."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from publisher.config import Config
from publisher.db import deliveries, subscriber_table
from publisher.sending import control, outbox
from publisher.sending.drain import DrainOptions
from publisher.sending.send_issue import ready, run_send, start
from tests.conftest import SEED_ISSUE
from tests.sending.faulty_smtp import FaultySMTP
from tests.sending.helpers import SECRETS, T0, add_confirmed, database, smtp_site

PLAN = {  # subscriber number -> behaviour on the first attempt (later attempts succeed)
    1: "451", 2: "451", 3: "421", 4: "drop", 5: "stall", 6: "550", 7: "554", 8: "550",
}
PERMANENT = {"550", "554"}


def rule(recipient: str, attempt: int) -> str:
    number = int(recipient.split("@")[0][1:])
    behaviour = PLAN.get(number, "ok")
    if behaviour in PERMANENT or attempt == 1:
        return behaviour
    return "ok"


def test_faults_end_with_one_message_per_deliverable_subscriber(
    seed_config: Config,
) -> None:
    with FaultySMTP(rule, stall_seconds=3.0) as server:
        config = smtp_site(seed_config, server.port, pool_size=3, command_timeout=1.0,
                           connect_timeout=2.0, backoff_base_seconds=60,
                           backoff_max_seconds=600, max_attempts=4)
        engine = database(config)
        addresses = add_confirmed(engine, 20)
        item = ready(config, SEED_ISSUE)
        send_id = start(engine, config, item, T0)
        clock = [T0]
        first = run_send(engine, config, SECRETS, send_id, lambda: clock[0],
                         DrainOptions(batch_size=7))
        assert first["deferred"] == 5 and first["failed"] == 3
        with engine.connect() as conn:
            due = conn.execute(sa.select(deliveries.c.next_attempt_at)
                               .where(deliveries.c.status == "deferred")).scalars().all()
        for when in due:  # base 60 s, jitter 0.8-1.2
            assert timedelta(seconds=48) <= when - T0 <= timedelta(seconds=72)
        clock[0] = T0 + timedelta(seconds=30)
        early = run_send(engine, config, SECRETS, send_id, lambda: clock[0],
                         DrainOptions())
        assert early["deferred"] == 5  # not due yet: nothing retried
        clock[0] = T0 + timedelta(seconds=80)
        final = run_send(engine, config, SECRETS, send_id, lambda: clock[0],
                         DrainOptions())
    assert final == {"queued": 0, "sending": 0, "sent": 17, "deferred": 0, "failed": 3,
                     "cancelled": 0}
    deliverable = [a for n, a in enumerate(addresses) if PLAN.get(n) not in PERMANENT]
    assert {a: server.delivered[a] for a in deliverable} == dict.fromkeys(deliverable, 1)
    assert sum(server.delivered.values()) == 17
    with engine.connect() as conn:
        rows = {r.email: r for r in conn.execute(sa.select(deliveries))}
        query = sa.select(subscriber_table.c.email, subscriber_table.c.bounce_count)
        bounces = dict(conn.execute(query).all())
    assert rows["u1@example.net"].attempts == 2 and rows["u0@example.net"].attempts == 1
    assert rows["u6@example.net"].last_reply.startswith("550 5.1.1")
    assert rows["u7@example.net"].last_reply.startswith("554 5.7.1")
    assert bounces["u6@example.net"] == 1 and bounces["u7@example.net"] == 1
    assert bounces["u1@example.net"] == 0
    assert outbox.is_finished(engine, send_id)


def test_a_delivery_that_keeps_failing_temporarily_fails_after_max_attempts(
    seed_config: Config,
) -> None:
    with FaultySMTP(lambda r, a: "451" if r.startswith("u0@") else "ok") as server:
        config = smtp_site(seed_config, server.port, pool_size=1, backoff_base_seconds=10,
                           max_attempts=3)
        engine = database(config)
        add_confirmed(engine, 2)
        item = ready(config, SEED_ISSUE)
        send_id = start(engine, config, item, T0)
        for minute in range(5):
            at = T0 + timedelta(minutes=minute)
            run_send(engine, config, SECRETS, send_id, lambda: at, DrainOptions())  # noqa: B023
    counts = outbox.counts(engine, send_id)
    assert counts["sent"] == 1 and counts["failed"] == 1
    assert server.attempts["u0@example.net"] == 3
    errors = outbox.last_errors(engine, send_id)
    assert errors[0][0] == "u0@example.net" and "gave up after 3 attempts" in errors[0][2]


def test_retry_requeues_failed_rows_on_request(seed_config: Config) -> None:
    state = {"refuse": True}
    with FaultySMTP(lambda r, a: "550" if state["refuse"] and r.startswith("u1@") else "ok") as s:
        config = smtp_site(seed_config, s.port, pool_size=1)
        engine = database(config)
        add_confirmed(engine, 3)
        item = ready(config, SEED_ISSUE)
        send_id = start(engine, config, item, T0)
        # Below the hard-bounce threshold the reader stays confirmed, so a retry reaches them
        # (at the default threshold of 1 the 550 makes them `bounced`, and no retry does).
        run_send(engine, config, SECRETS, send_id, lambda: T0,
                 DrainOptions(hard_bounce_threshold=2))
        assert outbox.counts(engine, send_id)["failed"] == 1
        state["refuse"] = False
        assert control.retry_failed(engine, send_id, T0) == 1
        counts = run_send(engine, config, SECRETS, send_id, lambda: T0, DrainOptions())
    assert counts["sent"] == 3 and s.delivered["u1@example.net"] == 1
    assert s.delivered["u0@example.net"] == 1
