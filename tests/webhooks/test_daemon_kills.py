"""The real `publisher run` daemon delivering webhooks to a real receiver on loopback that
answers 410, 500, times out and answers 200 on a script, while the daemon is SIGKILLed three
times mid-delivery and the receiver is down for 10 seconds, five times the longest backoff
(SQLite, and PostgreSQL where claims take rows FOR UPDATE SKIP LOCKED): no event is lost, a
duplicate carries its event's id and body, a 410 is never retried, and every signature verifies with
both secrets of a rotation."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter, defaultdict
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from publisher.clock import utc_now
from publisher.db import open_database, webhook_deliveries, webhook_endpoints, webhook_events
from publisher.sending.webhooks import BATCH
from publisher.subscribers import store
from publisher.subscribers.store import Consent
from tests.cli import CLI_ENV, start_publisher
from tests.conftest import REPO, SITE
from tests.sending.helpers import wait_until
from tests.servers import free_port
from tests.webhooks.helpers import SECRET_ENV, verifies
from tests.webhooks.receiver import HANG, Receiver

SECRETS = ("old-secret", "new-secret")
OUTAGE_SECONDS = 10.0  # five retries at the longest backoff (backoff_max_seconds = 2)
KILLS = 3


def write_site(tmp_path: Path, hook_url: str, database_url: str) -> Path:
    (tmp_path / "issues").mkdir()  # no issue is due: only webhooks and nothing to mail
    text = (SITE / "publisher.toml").read_text(encoding="utf-8")
    text = text.replace("port = 8025", f"port = {free_port()}")
    text = text.replace('url = "sqlite:///var/publisher.db"', f'url = "{database_url}"')
    text = text.replace('templates = "templates"', f'templates = "{REPO / "templates"}"')
    text += (f'\n[[webhooks]]\nurl = "{hook_url}"\nevents = ["confirmed", "unsubscribed"]\n'
             f'secret_env = "{SECRET_ENV}"\ntimeout_seconds = 1\nbackoff_base_seconds = 0.25\n'
             'backoff_max_seconds = 2\n'
             'retry_hours = 1\n')
    (tmp_path / "publisher.toml").write_text(text, encoding="utf-8")
    return tmp_path / "publisher.toml"


def script(event: dict[str, Any], seen: int) -> int:
    """By event id: a fifth are refused for good (410), a fifth fail once (500), a fifth
    time out once, the rest are taken at once."""
    kind = int(event["id"]) % 5
    if kind == 0:
        return 410
    if seen == 1 and kind in (1, 2):
        return 500 if kind == 1 else HANG
    return 200


def daemon(config: Path) -> subprocess.Popen[bytes]:
    return start_publisher(config, "run", "--interval", "1",
                           env={**CLI_ENV, SECRET_ENV: " ".join(SECRETS)},
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def add_readers(engine: sa.Engine, first: int, count: int) -> None:
    """Readers confirmed by an import; every third unsubscribes again (two events)."""
    for n in range(first, first + count):
        now = utc_now()
        with engine.begin() as conn:
            reader = store.add(conn, f"r{n}@example.org", None, store.CONFIRMED,
                               Consent("import", now), now)[0]
            if n % 3 == 0:
                store.unsubscribe(conn, reader.id, now, "page")


def received_more(receiver: Receiver, than: int) -> bool:
    return len(receiver.received) > than


def pending(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(webhook_deliveries)
                                .where(webhook_deliveries.c.status == "pending")).scalar_one())


@pytest.mark.waits
def test_no_event_is_lost_through_three_daemon_kills_and_a_receiver_outage(
    tmp_path: Path, database_url: str
) -> None:
    with Receiver(script, hang_seconds=2.0, delay=0.1) as receiver:
        config = write_site(tmp_path, receiver.url, database_url)
        engine = open_database(database_url)
        process = daemon(config)
        with engine.connect() as conn:
            wait_until(lambda: conn.execute(sa.select(sa.func.count())
                                            .select_from(webhook_endpoints)).scalar_one() == 2)
        in_flight = []
        for kill in range(KILLS):
            before = len(receiver.received)
            add_readers(engine, 40 * kill, 40)
            wait_until(partial(received_more, receiver, before + 5), seconds=30)
            assert process.poll() is None
            process.send_signal(signal.SIGKILL)
            in_flight.append(pending(engine))
            process.wait(timeout=30)
            process = daemon(config)
        receiver.stop()  # the outage: connections refused while events keep coming
        add_readers(engine, 40 * KILLS, 40)
        time.sleep(OUTAGE_SECONDS)
        receiver.start()
        try:
            wait_until(lambda: pending(engine) == 0, seconds=120)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
    with engine.connect() as conn:
        event_ids = {str(i) for i in conn.execute(sa.select(webhook_events.c.id)).scalars()}
        refused = conn.execute(sa.select(webhook_deliveries.c.event_id,
                                         webhook_deliveries.c.attempts,
                                         webhook_deliveries.c.last_reply)
                               .where(webhook_deliveries.c.status == "failed")).all()
    bodies: dict[str, set[bytes]] = defaultdict(set)
    for request in receiver.received:
        bodies[request.event_id].add(request.body)
        assert all(verifies(secret, request.headers["publisher-signature"], request.body)
                   for secret in SECRETS)
    readers = 40 * (KILLS + 1)
    assert len(event_ids) == readers + len(range(0, readers, 3))  # confirmed, unsubscribed
    assert all(in_flight), f"each kill landed mid-delivery (pending rows: {in_flight})"
    assert set(bodies) == event_ids, "every event reached the receiver"
    assert all(len(versions) == 1 for versions in bodies.values()), "a duplicate is the same"
    assert sorted(int(event_id) for event_id, _, _ in refused) == sorted(
        int(i) for i in event_ids if int(i) % 5 == 0)
    assert all(str(reply).startswith("410") for _, _, reply in refused)
    seen = Counter(request.event_id for request in receiver.received)
    # after a 410 nothing more: a second 410 only when a kill fell between reply and record
    assert sum(seen[str(i)] - 1 for i, _, _ in refused) <= KILLS * BATCH
