"""Store fixtures: the same tests on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from publisher.db import open_database
from tests.conftest import DATABASES


@pytest.fixture(params=DATABASES)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = open_database(url)
    if request.param == "postgresql":
        with engine.begin() as conn:
            conn.execute(sa.text("TRUNCATE subscribers, subscriber_events, suppressions, "
                                 "deliveries, sends RESTART IDENTITY CASCADE"))
    yield engine
    engine.dispose()
