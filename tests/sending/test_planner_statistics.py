"""A send's rows go in thousands at once; PostgreSQL's planner must see them before the next
round plans a query over them. From the statistics of the table before them it compared
every reader with every row (4 s a round at 9,000 readers, where 7 ms do), until
autovacuum's next look a minute or more later."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from publisher.config import Config
from publisher.db import open_database
from publisher.sending import outbox
from publisher.sending.send_issue import ready, start
from tests.conftest import SEED_ISSUE
from tests.sending.helpers import T0, bulk_confirmed


def planner_rows(engine: sa.Engine) -> float:
    with engine.connect() as conn:
        return float(conn.execute(sa.text(
            "SELECT reltuples FROM pg_class WHERE relname = 'deliveries'")).scalar_one())


@pytest.mark.postgres
def test_a_send_of_thousands_is_analyzed_once_its_rows_are_in(
        seed_config: Config, postgres_url: str) -> None:
    engine = open_database(postgres_url)
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE deliveries, sends, subscribers RESTART IDENTITY CASCADE"))
    with engine.connect() as conn:  # the statistics of an empty table
        conn.execute(sa.text("ANALYZE deliveries"))
        conn.commit()
    bulk_confirmed(engine, outbox.ANALYZE_AFTER_ROWS + 200)
    start(engine, seed_config, ready(seed_config, SEED_ISSUE), T0)
    assert planner_rows(engine) >= outbox.ANALYZE_AFTER_ROWS + 200
