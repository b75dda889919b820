"""Who enters the automations: a reader who confirms, not an import or an operator's add
(unless they pass --welcome); and a reader who comes back gets the steps they never
received, in order, and not the ones they did."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

from publisher.clock import utc_now
from publisher.config import Config
from publisher.sending.daemon import Daemon
from publisher.sending.enrolment import run_automations
from publisher.sending.send_issue import ready, start
from publisher.subscribers import store
from publisher.subscribers.addresses import normalise_address
from tests.automations.helpers import (
    BASE,
    LATEST,
    cli,
    confirm_at,
    received,
    site_file,
    welcome_and_day_3,
    with_steps,
)
from tests.conftest import DATA
from tests.sending.faulty_smtp import FaultySMTP
from tests.sending.helpers import SECRETS, database, smtp_site

WELCOME, DAY3, SEED = "automation:welcome", "automation:day-3", "2025-02-latest"
MOVED = DATA / "subscribers" / "moved_from_another_tool.csv"
ASKED = DATA / "subscribers" / "moved_asking_for_welcome.csv"


def test_an_import_or_add_of_confirmed_readers_enrols_them_only_with_welcome(
    tmp_path: Path, database_url: str
) -> None:
    steps = welcome_and_day_3(tmp_path / "automations")
    with FaultySMTP(lambda r, a: "ok") as server:
        config_file, config = site_file(tmp_path, server.port, database_url, steps)
        engine = database(config)
        start(engine, config, ready(config, LATEST), utc_now() - timedelta(days=1))
        imported = cli(config_file, "subscribers", "import", str(MOVED), "--confirmed")
        assert imported.exit_code == 0, imported.output
        assert "no welcome nor other automation step" in imported.output
        assert cli(config_file, "subscribers", "add", "quiet@example.org",
                   "--confirmed").exit_code == 0
        clock = [utc_now()]
        daemon = Daemon(config, SECRETS, engine, lambda: clock[0])
        daemon.tick()
        daemon.tick()
        assert sum(server.delivered.values()) == 0, "an import is not a confirmation"
        result = cli(config_file, "subscribers", "import", str(ASKED), "--confirmed",
                     "--welcome")
        assert result.exit_code == 0, result.output
        assert cli(config_file, "subscribers", "add", "asked@example.org", "--confirmed",
                   "--welcome").exit_code == 0
        again = cli(config_file, "subscribers", "add", "quiet@example.org", "--confirmed",
                    "--welcome")  # what the note after the first add says to run
        assert again.exit_code == 0 and "no welcome" not in again.output, again.output
        refused = cli(config_file, "subscribers", "add", "p@example.org", "--welcome")
        assert refused.exit_code != 0 and "--welcome needs --confirmed" in refused.output
        clock[0] = utc_now()
        for _ in range(3):
            daemon.tick()
        clock[0] = utc_now() + timedelta(days=3, minutes=1)
        for _ in range(3):
            daemon.tick()
    asked = ["asked.one@example.org", "asked.two@example.org", "asked@example.org",
             "quiet@example.org"]
    assert received(engine) == Counter({(slug, r): 1 for r in asked
                                        for slug in (WELCOME, SEED, DAY3)})
    assert server.delivered == Counter({r: 3 for r in asked})


def test_a_reader_who_comes_back_gets_the_steps_they_never_received_first_and_only_those(
    seed_config: Config, tmp_path: Path
) -> None:
    bounced, left, had = "r0@example.net", "r1@example.net", "r2@example.net"
    failing = {bounced: 1}  # their first attempt is refused: 550, so they are bounced
    clock = [BASE]
    steps = welcome_and_day_3(tmp_path / "automations")
    with FaultySMTP(lambda r, a: "550" if a <= failing.get(r, 0) else "ok") as server:
        config = with_steps(smtp_site(seed_config, server.port), steps, issues=LATEST.parent)
        engine = database(config)
        start(engine, config, ready(config, LATEST), BASE - timedelta(days=20))
        confirm_at(engine, 3, BASE - timedelta(minutes=1))
        run_automations(engine, config, BASE)  # enrolled in the welcome, then one leaves
        with engine.begin() as conn:
            ids = {a: s.id for a in (bounced, left, had)
                   if (s := store.find(conn, normalise_address(a))) is not None}
            store.unsubscribe(conn, ids[left], BASE)
        daemon = Daemon(config, SECRETS, engine, lambda: clock[0])
        for _ in range(2):
            daemon.tick()
        with engine.begin() as conn:
            assert store.statuses(conn, ids.values()) == {
                ids[bounced]: store.BOUNCED, ids[left]: store.UNSUBSCRIBED,
                ids[had]: store.CONFIRMED}
            store.unsubscribe(conn, ids[had], BASE + timedelta(hours=1))
        assert received(engine) == Counter({(WELCOME, had): 1, (SEED, had): 1})
        clock[0] = BASE + timedelta(days=1)
        with engine.begin() as conn:  # as the confirmation link's "subscribe again" does
            for address in (bounced, left, had):
                store.set_status(conn, ids[address], store.CONFIRMED, clock[0],
                                 "resubscribed", {"via": "confirmation link"})
        for _ in range(3):
            daemon.tick()
        back = received(engine)
        assert {(slug, r) for slug, r in back if slug != DAY3} == {
            (slug, r) for slug in (WELCOME, SEED) for r in (bounced, left, had)}
        assert not any(slug == DAY3 for slug, _ in back), "not before their new day 3"
        clock[0] = BASE + timedelta(days=4, minutes=1)
        for _ in range(3):
            daemon.tick()
    assert received(engine) == Counter({(slug, r): 1 for slug in (WELCOME, SEED, DAY3)
                                        for r in (bounced, left, had)})
    assert server.delivered == Counter({r: 3 for r in (bounced, left, had)})
