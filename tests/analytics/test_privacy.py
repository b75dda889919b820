"""Nothing the analytics keep identifies a reader: after the log is counted over HTTP and
ingested (and a real sent message's links are clicked over HTTP), every column of every
analytics and click table and every value written is listed and checked; none holds an
address, a User-Agent, a subscriber or a hash of any of them, and the log lines `serve`
wrote while counting name none either."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from publisher.analytics.ingest import ingest_file
from publisher.analytics.links import links_of
from publisher.analytics.user_agents import KNOWN_AGGREGATORS
from publisher.config import Config, Secrets
from publisher.db import ANALYTICS_TABLES, CLICK_TABLES, open_database
from publisher.sending.send_issue import ready
from publisher.site.build import build_site
from publisher.web.app import create_app
from publisher.web.state import WebState
from tests import web_client
from tests.analytics.clicks import CLICK_LINK, html_of, sent, served
from tests.analytics.helpers import (
    ACCESS_LOG,
    EXPECTED,
    NOW,
    counts_reach,
    logged_hits,
    replay,
    ticking_clock,
    with_clicks,
    with_database,
)
from tests.conftest import SEED_ISSUE, LiveServer
from tests.sending.helpers import SECRETS

# Every column the analytics tables have, and what each may hold.
COLUMNS = {
    "feed_fetches": {"period", "feed", "fetches", "other_fetchers"},
    "feed_aggregators": {"period", "feed", "aggregator", "subscribers", "reported_at"},
    "page_views": {"period", "page", "views"},
    "log_ingests": {"source", "last_at", "lines_at_last"},
}
PERIOD = re.compile(r"^\d{4}-\d{2}(-\d{2})?$")
SITE_PATH = re.compile(r"^/[a-z0-9/.-]*$")
NAMES = {name for name, _ in KNOWN_AGGREGATORS}
SOURCES = {"access_log"}


def _allowed(column: str, value: object) -> bool:
    if isinstance(value, int) or column in ("reported_at", "last_at"):
        return column not in ("period", "feed", "page", "aggregator", "source")
    text = str(value)
    return {"period": PERIOD.match(text) is not None,
            "feed": SITE_PATH.match(text) is not None, "page": SITE_PATH.match(text) is not None,
            "aggregator": text in NAMES, "source": text in SOURCES}.get(column, False)


def test_no_column_or_value_of_the_analytics_tables_identifies_a_reader(
    seed_config: Config, database_url: str, caplog: pytest.LogCaptureFixture,
) -> None:
    config = with_database(seed_config, database_url)
    build_site(config, NOW)
    state = WebState(config, Secrets(secret_keys=("k" * 32,)), clock=ticking_clock())
    hits = logged_hits()
    engine = open_database(database_url)
    with caplog.at_level(logging.DEBUG), LiveServer(create_app(state)) as live:
        list(replay(live.url, hits))
        list(replay(live.url, hits, DNT="1"))
        assert counts_reach(engine, EXPECTED)
    ingest_file(engine, ACCESS_LOG, ZoneInfo("Asia/Shanghai"))

    assert {t.name: {c.name for c in t.columns} for t in ANALYTICS_TABLES} == COLUMNS
    with engine.connect() as conn:
        written = {t.name: [dict(r) for r in conn.execute(sa.select(t)).mappings()]
                   for t in ANALYTICS_TABLES}
    assert all(written.values()), "every table has rows to check"
    addresses = {hit.ip for hit in hits} | {"127.0.0.1"}
    agents = {hit.user_agent for hit in hits}
    for table, rows in written.items():
        for row in rows:
            for column, value in row.items():
                assert _allowed(column, value), f"{table}.{column} holds {value!r}"
                text = str(value)
                assert not any(a in text for a in addresses), f"{table}.{column}: an address"
                assert text not in agents and "@" not in text and "Mozilla" not in text
    logged = caplog.text
    assert not any(a in logged for a in addresses - {"127.0.0.1"})
    assert not any(agent in logged for agent in agents)
    engine.dispose()
    state.engine.dispose()


CLICK_COLUMNS = {
    "links": {"send_id", "number", "url"},
    "link_clicks": {"period", "send_id", "link", "clicks", "prefetches"},
}


def test_no_column_or_value_of_the_click_tables_identifies_a_reader(
    seed_config: Config, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    config = with_clicks(seed_config)
    engine, send_id, (message, *_) = sent(config, tmp_path / "Maildir", readers=2)
    state = WebState(config, Secrets(secret_keys=SECRETS.secret_keys))
    readers = {"u0@example.net", "u1@example.net", "User 0", "User 1"}
    addresses = {"203.0.113.5", "198.51.100.7", "2001:db8::1"}
    agent = "Mozilla/5.0 (Reader Test) Thunderbird/128.0"
    with caplog.at_level(logging.DEBUG), served(create_app(state)) as live, \
            web_client.Client() as client:
        for link in CLICK_LINK.findall(html_of(message))[:3]:
            for address in addresses:
                client.get(live.url + link.removeprefix("http://127.0.0.1:8000"),
                           headers={"X-Forwarded-For": address, "User-Agent": agent})
    assert {t.name: {c.name for c in t.columns} for t in CLICK_TABLES} == CLICK_COLUMNS
    urls = set(links_of(ready(config, SEED_ISSUE).rendered, config.site.base_url))
    with engine.connect() as conn:
        written = {t.name: [dict(r) for r in conn.execute(sa.select(t)).mappings()]
                   for t in CLICK_TABLES}
    assert written["links"] and sum(r["clicks"] for r in written["link_clicks"]) == 9
    for table, rows in written.items():
        for row in rows:
            for column, value in row.items():
                text = str(value)
                if column == "url":
                    assert text in urls, f"{table}.url holds {text!r}, not a link of the issue"
                elif column == "period":
                    assert PERIOD.match(text), f"{table}.period holds {text!r}"
                else:
                    assert isinstance(value, int), f"{table}.{column} holds {value!r}"
                assert not any(a in text for a in addresses | readers | {agent})
    logged = caplog.text
    assert not any(a in logged for a in addresses | readers) and agent not in logged
    state.engine.dispose()
