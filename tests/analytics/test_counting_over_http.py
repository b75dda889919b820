"""`publisher serve` counts what it answers, over real HTTP: feed fetches per day and feed,
each aggregator's latest report, distinct other fetchers, and issue page views; a request
that asks not to be tracked (DNT, Sec-GPC) is not counted at all. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Engine

from publisher.analytics import figures
from publisher.config import Config, Secrets
from publisher.db import open_database
from publisher.site.build import build_site
from publisher.web.app import create_app
from publisher.web.state import WebState
from tests import web_client
from tests.analytics.helpers import (
    DAY,
    EXPECTED,
    ISSUE_PAGE,
    NOW,
    counts,
    counts_reach,
    logged_hits,
    replay,
    ticking_clock,
    with_database,
)
from tests.conftest import LiveServer

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"
READER = "NetNewsWire (RSS Reader; https://netnewswire.com/)"


@pytest.fixture
def site(seed_config: Config, database_url: str) -> Iterator[tuple[LiveServer, Engine]]:
    config = with_database(seed_config, database_url)
    build_site(config, NOW)
    state = WebState(config, Secrets(secret_keys=("k" * 32,)), clock=ticking_clock())
    engine = open_database(database_url)
    with LiveServer(create_app(state)) as live:
        yield live, engine
    engine.dispose()
    state.engine.dispose()


def test_the_logged_requests_made_over_http_give_the_expected_counts(
    site: tuple[LiveServer, Engine],
) -> None:
    live, engine = site
    statuses = list(replay(live.url, logged_hits()))
    assert statuses.count(404) == 1  # /issues/nope/ is not there, and not counted
    assert counts_reach(engine, EXPECTED)


def test_the_same_fetcher_twice_is_one_fetcher_and_two_are_two(
    site: tuple[LiveServer, Engine],
) -> None:
    live, engine = site
    with web_client.Client(base_url=live.url) as client:
        for address in ("198.51.100.7", "198.51.100.7", "198.51.100.8"):
            client.get("/feed.json", headers={"User-Agent": READER, "X-Forwarded-For": address})
        client.get("/feed.json", headers={"User-Agent": "Feedly/1.0 (+http://www.feedly.com/"
                                          "fetcher.html; 10 subscribers; )"})
        client.get("/feed.json", headers={"User-Agent": "Feedly/1.0 (+http://www.feedly.com/"
                                          "fetcher.html; 12 subscribers; )"})
    assert counts_reach(engine, {"feeds": {"/feed.json": (5, 2, {"Feedly": 12})}, "views": {}})


@pytest.mark.parametrize("opt_out", [{"DNT": "1"}, {"Sec-GPC": "1"}])
def test_a_request_that_asks_not_to_be_tracked_is_not_counted_at_all(
    site: tuple[LiveServer, Engine], opt_out: dict[str, str],
) -> None:
    live, engine = site
    with web_client.Client(base_url=live.url) as client:
        for path, agent in ((ISSUE_PAGE, FIREFOX), ("/feed.atom", READER)):
            answer = client.get(path, headers={"User-Agent": agent, **opt_out})
            assert answer.status_code == 200  # served all the same
    assert counts(engine) == {"feeds": {}, "views": {}}  # decided before the response: no race
    with web_client.Client(base_url=live.url) as client:
        client.get(ISSUE_PAGE, headers={"User-Agent": FIREFOX, "DNT": "0"})
    assert counts_reach(engine, {"feeds": {}, "views": {ISSUE_PAGE: 1}})


def test_an_issue_page_view_counts_once_per_request_and_under_its_day(
    site: tuple[LiveServer, Engine],
) -> None:
    live, engine = site
    with web_client.Client(base_url=live.url) as client:
        for path in (ISSUE_PAGE, ISSUE_PAGE + "index.html", ISSUE_PAGE):
            assert client.get(path, headers={"User-Agent": FIREFOX}).status_code == 200
    assert counts_reach(engine, {"feeds": {}, "views": {ISSUE_PAGE: 3}})
    assert [(p.page, p.views, p.periods) for p in figures.issue_views(engine)] == [
        (ISSUE_PAGE, 3, [(DAY, 3)])]
