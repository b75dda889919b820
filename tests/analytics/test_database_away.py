"""Counting never fails a page: with the database away, `serve` still answers the feed and
the issue page, and says in the log that the count was lost."""

from __future__ import annotations

import logging
import time

import pytest

from publisher.config import Config, Secrets
from publisher.site.build import build_site
from publisher.web.app import create_app
from publisher.web.state import WebState
from tests import web_client
from tests.analytics.helpers import ISSUE_PAGE, NOW, with_database
from tests.conftest import LiveServer
from tests.servers import free_port

FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"


def test_with_the_database_away_pages_are_served_and_the_lost_count_is_logged(
    seed_config: Config, caplog: pytest.LogCaptureFixture,
) -> None:
    build_site(seed_config, NOW)
    nobody_listens = f"postgresql://publisher@127.0.0.1:{free_port()}/publisher"
    state = WebState(with_database(seed_config, nobody_listens),
                     Secrets(secret_keys=("k" * 32,)), clock=lambda: NOW)
    with caplog.at_level(logging.WARNING, logger="publisher"), \
            LiveServer(create_app(state)) as live, web_client.Client(base_url=live.url) as client:
        for path in ("/feed.atom", ISSUE_PAGE):
            answer = client.get(path, headers={"User-Agent": FIREFOX})
            assert answer.status_code == 200 and answer.content
        deadline = time.monotonic() + 10
        while caplog.text.count("analytics_not_counted") < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    assert caplog.text.count("analytics_not_counted") == 2
