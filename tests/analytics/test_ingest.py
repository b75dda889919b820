"""`publisher analytics ingest ACCESS_LOG` counts an nginx combined-format log as `serve`
counts the same requests; the same log twice, or a log with lines already counted, counts
each line once (the high-water mark moves with the counts). SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from publisher.analytics.access_log import parse_line
from publisher.analytics.ingest import ingest_file, ingest_lines
from publisher.db import feed_fetches, open_database
from tests.analytics.helpers import ACCESS_LOG, EXPECTED, counts
from tests.cli import invoke_publisher

ZONE_CONFIG = """[site]
title = "Readership"
base_url = "https://news.example.org"
timezone = "Asia/Shanghai"

[database]
url = "{url}"
"""


@pytest.fixture
def engine(database_url: str) -> Engine:
    return open_database(database_url)


def test_the_access_log_gives_the_counts_serve_gives(engine: Engine) -> None:
    done = ingest_file(engine, ACCESS_LOG, ZoneInfo("Asia/Shanghai"))
    # one line is not a log line; a 404, a POST, the home page and a crawler's view count not
    assert (done.lines, done.new, done.counted) == (15, 15, 11)
    assert counts(engine) == EXPECTED


def test_ingesting_the_same_log_twice_changes_nothing(
    engine: Engine, database_url: str, tmp_path: Path,
) -> None:
    config = tmp_path / "publisher.toml"
    config.write_text(ZONE_CONFIG.format(url=database_url), encoding="utf-8")
    first = invoke_publisher("analytics", "ingest", str(ACCESS_LOG), config=config)
    assert first.exit_code == 0, first.output
    assert first.output == ("15 lines read, 15 logged after the last ingest, 11 counted as feed "
                            "fetches or page views; read up to 2026-12-07 11:59:00 +0800\n")
    again = invoke_publisher("analytics", "ingest", str(ACCESS_LOG), config=config)
    assert again.output == ("15 lines read, 0 logged after the last ingest, 0 counted as feed "
                            "fetches or page views; read up to 2026-12-07 11:59:00 +0800\n")
    assert counts(engine) == EXPECTED


def test_a_rotated_log_counts_only_the_lines_after_the_last_ingest(engine: Engine) -> None:
    lines = ACCESS_LOG.read_text(encoding="utf-8").splitlines()
    zone = ZoneInfo("Asia/Shanghai")
    ingest_lines(engine, lines[:6], zone)  # access.log.1: the first six lines
    done = ingest_lines(engine, lines, zone)  # access.log: the same six, then the rest
    assert (done.new, done.counted) == (9, 5)
    assert counts(engine) == EXPECTED


def test_a_log_line_is_read_with_its_time_zone_and_its_escaped_user_agent() -> None:
    hit = parse_line('192.0.2.1 - - [31/Dec/2026:23:59:59 -0500] "GET /feed.atom?x=1 HTTP/2.0" '
                     '200 5 "-" "Reader \\x22quoted\\x22 1.0"')
    assert hit is not None
    assert hit.at.isoformat() == "2026-12-31T23:59:59-05:00"
    assert (hit.method, hit.path, hit.status) == ("GET", "/feed.atom?x=1", 200)
    assert hit.user_agent == 'Reader "quoted" 1.0'
    assert parse_line('192.0.2.1 - - [bad time] "GET / HTTP/1.1" 200 5 "-" "x"') is None


def test_a_log_read_while_nginx_still_writes_its_second_counts_the_rest_of_it_next_time(
        engine: Engine) -> None:
    """Three fetches in one second: the first ingest reads the file after two of them were
    written; the next ingest, of the whole file, counts the third and only it."""
    line = ('203.0.113.{n} - - [07/Dec/2026:12:00:05 +0800] "GET /feed.atom HTTP/1.1" 200 '
            '5120 "-" "Reader/{n}.0"')
    second = [line.format(n=n) for n in (1, 2, 3)]
    zone = ZoneInfo("Asia/Shanghai")
    first = ingest_lines(engine, second[:2], zone)
    assert (first.new, first.counted) == (2, 2)
    rest = ingest_lines(engine, second, zone)
    assert (rest.lines, rest.new, rest.counted) == (3, 1, 1)
    assert ingest_lines(engine, second, zone).new == 0
    with engine.connect() as conn:
        fetches = conn.execute(sa.select(sa.func.sum(feed_fetches.c.fetches))).scalar()
    assert fetches == 3
