"""A round of enrolment says how many readers it added, on both databases: PostgreSQL's
driver answers -1 for the row count of an INSERT … SELECT, which made every round log
"enrolled -1" and recount the send's audience."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from publisher.db import sends
from publisher.sending.enrolment import run_automations
from tests.automations.helpers import BASE, confirm_at, site_file, welcome_and_day_3
from tests.sending.helpers import database

WELCOME = "automation:welcome"


def test_a_round_counts_the_readers_it_enrolled_and_a_round_with_nobody_new_counts_none(
        tmp_path: Path, database_url: str) -> None:
    steps = welcome_and_day_3(tmp_path / "automations")
    _config_file, config = site_file(tmp_path, 2525, database_url, steps)
    engine = database(config)
    confirm_at(engine, 3, BASE - timedelta(minutes=1))
    assert run_automations(engine, config, BASE)[WELCOME] == 3
    assert run_automations(engine, config, BASE)[WELCOME] == 0
    confirm_at(engine, 2, BASE, start=3)
    assert run_automations(engine, config, BASE + timedelta(seconds=1))[WELCOME] == 2
    with engine.connect() as conn:
        audience = conn.execute(sa.select(sends.c.audience_count)
                                .where(sends.c.issue_slug == WELCOME)).scalar_one()
    assert audience == 5
