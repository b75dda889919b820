"""The daemon with an injected clock: welcome, latest issue and day-3 step, each once, in
order; a reader who leaves gets no further step; edits and new steps never re-send."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from publisher.config import Config
from publisher.db import sends
from publisher.sending import outbox
from publisher.sending.daemon import Daemon
from publisher.sending.enrolment import step_statuses
from publisher.sending.send_issue import ready, start
from publisher.subscribers import store
from publisher.subscribers.addresses import normalise_address
from tests.automations.helpers import BASE, confirm_at, received, step_text, with_steps
from tests.conftest import SEED_ISSUE
from tests.sending.faulty_smtp import FaultySMTP
from tests.sending.helpers import SECRETS, database, smtp_site

WELCOME, DAY3, SEED = "automation:welcome", "automation:day-3", "2024-06-first-half"


def test_the_welcome_then_the_day_3_step_reach_each_reader_once_and_in_order(
    seed_config: Config, tmp_path: Path, database_url: str
) -> None:
    clock = [BASE]
    with FaultySMTP(lambda r, a: "ok") as server:
        config = with_steps(smtp_site(seed_config, server.port, database_url),
                            tmp_path / "automations")
        engine = database(config)
        readers = confirm_at(engine, 5, BASE - timedelta(minutes=5))
        daemon = Daemon(config, SECRETS, engine, lambda: clock[0])
        for _ in range(3):
            daemon.tick()
        assert received(engine) == Counter({(WELCOME, r): 1 for r in readers})
        clock[0] = BASE + timedelta(days=3, minutes=-6)  # a minute short of their day 3
        daemon.tick()
        assert not any(slug == DAY3 for slug, _ in received(engine))
        clock[0] = BASE + timedelta(days=3)
        for _ in range(3):
            daemon.tick()
    expected = {(slug, r): 1 for r in readers for slug in (WELCOME, DAY3)}
    assert received(engine) == Counter(expected)
    assert sum(server.delivered.values()) == 10
    statuses = {s.slug: s for s in step_statuses(engine, config, clock[0])}
    assert (statuses[DAY3].sent, statuses[DAY3].due, statuses[DAY3].pending) == (5, 0, 0)


def test_the_welcome_brings_the_latest_mailed_issue_to_new_readers_only(
    seed_config: Config, tmp_path: Path
) -> None:
    with FaultySMTP(lambda r, a: "ok") as server:
        config = with_steps(smtp_site(seed_config, server.port), tmp_path / "automations")
        engine = database(config)
        old = confirm_at(engine, 2, BASE - timedelta(days=30))
        start(engine, config, ready(config, SEED_ISSUE), BASE - timedelta(days=20))
        new = confirm_at(engine, 3, BASE - timedelta(minutes=1), start=10)
        daemon = Daemon(config, SECRETS, engine, lambda: BASE)
        for _ in range(3):
            daemon.tick()
    got = received(engine)
    assert {r for slug, r in got if slug == SEED} == set(old) | set(new)
    assert all(got[(SEED, r)] == 1 and got[(WELCOME, r)] == 1 for r in new)
    assert not any((WELCOME, r) in got for r in old), "outside the welcome's window"
    assert sum(server.delivered.values()) == 2 + 3 * 2


def test_a_reader_who_unsubscribes_between_steps_gets_no_further_step(
    seed_config: Config, tmp_path: Path
) -> None:
    clock = [BASE]
    with FaultySMTP(lambda r, a: "ok") as server:
        config = with_steps(smtp_site(seed_config, server.port), tmp_path / "automations")
        engine = database(config)
        stays, leaves, bounces = confirm_at(engine, 3, BASE)
        daemon = Daemon(config, SECRETS, engine, lambda: clock[0])
        daemon.tick()
        with engine.begin() as conn:
            ids = {s.email: s.id for s in (store.find(conn, normalise_address(a))
                                           for a in (leaves, bounces)) if s}
            store.unsubscribe(conn, ids[leaves], BASE + timedelta(days=1))
            store.set_status(conn, ids[bounces], store.BOUNCED, BASE + timedelta(days=1),
                             "bounced")
        clock[0] = BASE + timedelta(days=4)
        daemon.tick()
        daemon.tick()
    assert {r for slug, r in received(engine) if slug == DAY3} == {stays}
    assert server.delivered == Counter({stays: 2, leaves: 1, bounces: 1})


def test_editing_a_step_never_resends_it_and_a_new_step_skips_readers_past_its_window(
    seed_config: Config, tmp_path: Path
) -> None:
    folder = tmp_path / "automations"
    folder.mkdir()
    (folder / "welcome.md").write_text(step_text("Welcome", "0"), encoding="utf-8")
    clock = [BASE]
    with FaultySMTP(lambda r, a: "ok") as server:
        config = with_steps(smtp_site(seed_config, server.port), folder)
        engine = database(config)
        (early,) = confirm_at(engine, 1, BASE)
        daemon = Daemon(config, SECRETS, engine, lambda: clock[0])
        daemon.tick()
        (folder / "welcome.md").write_text(step_text("Welcome!", "0", "New words."),
                                           encoding="utf-8")
        clock[0] = BASE + timedelta(days=5)
        (folder / "day-1.md").write_text(step_text("Day one", "1d"), encoding="utf-8")
        (late,) = confirm_at(engine, 1, clock[0], start=1)
        daemon.tick()
        clock[0] = BASE + timedelta(days=6, minutes=1)
        daemon.tick()
        daemon.tick()
        with engine.connect() as conn:
            subject = conn.execute(sa.select(sends.c.subject)
                                   .where(sends.c.issue_slug == WELCOME)).scalar()
    assert subject == "Welcome!"  # later deliveries use the edited file
    assert received(engine) == Counter({(WELCOME, early): 1, (WELCOME, late): 1,
                                        ("automation:day-1", late): 1})
    assert server.delivered == Counter({early: 1, late: 2})


def test_a_broken_step_file_stops_enrolment_until_it_is_fixed(
    seed_config: Config, tmp_path: Path
) -> None:
    folder = tmp_path / "automations"
    folder.mkdir()
    (folder / "welcome.md").write_text(step_text("Welcome", "3 days"), encoding="utf-8")
    with FaultySMTP(lambda r, a: "ok") as server:
        config = with_steps(smtp_site(seed_config, server.port), folder)
        engine = database(config)
        confirm_at(engine, 2, BASE)
        daemon = Daemon(config, SECRETS, engine, lambda: BASE)
        daemon.tick()
        assert outbox.send_slugs(engine) == set()
        (folder / "welcome.md").write_text(step_text("Welcome", "0"), encoding="utf-8")
        daemon.tick()
    assert sum(server.delivered.values()) == 2
