"""The prefetch rule: during a send's delivery burst (up to `prefetch_seconds` after its
latest delivery recorded sent), a link fetched again from the same /24 (IPv6: /48) is a
link scanner's prefetch, counted apart; the first fetch from a network, and every click
after the burst, is a click."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from publisher.analytics import click_tally
from publisher.analytics.click_tally import ClickTally, in_burst, network_of
from publisher.config import Config
from publisher.web.app import create_app
from publisher.web.state import WebState
from tests import web_client
from tests.analytics.clicks import CLICK_LINK, clicks_reach, html_of, sent, served
from tests.analytics.helpers import with_clicks
from tests.sending.helpers import SECRETS, T0

ZONE = ZoneInfo("Asia/Shanghai")
SENT = datetime(2026, 12, 7, 4, 0, tzinfo=UTC)


def test_a_network_is_its_24_or_its_48() -> None:
    assert network_of("203.0.113.77") == network_of("203.0.113.5") == "203.0.113.0/24"
    assert network_of("203.0.114.5") != network_of("203.0.113.5")
    assert network_of("2001:db8:1:2::9") == network_of("2001:db8:1:ffff::1") == "2001:db8:1::/48"
    assert network_of("::ffff:203.0.113.9") == "203.0.113.0/24"


def test_the_burst_ends_prefetch_seconds_after_the_latest_delivery() -> None:
    window = timedelta(seconds=60)
    assert in_burst(SENT + timedelta(seconds=60), SENT, window)
    assert not in_burst(SENT + timedelta(seconds=61), SENT, window)
    assert not in_burst(SENT, None, window)  # nothing sent yet: no burst


def test_a_second_fetch_from_one_network_in_the_burst_is_a_prefetch() -> None:
    tally = ClickTally(ZONE, prefetch_seconds=60)
    soon = SENT + timedelta(seconds=5)
    assert not tally.add(1, 1, soon, "203.0.113.5", SENT)  # first from the network: a click
    assert tally.add(1, 1, soon, "203.0.113.77", SENT)  # same /24, same link: a prefetch
    assert not tally.add(1, 2, soon, "203.0.113.77", SENT)  # another link: a click
    assert not tally.add(1, 1, soon, "198.51.100.1", SENT)  # another network: a click
    later = SENT + timedelta(seconds=61)
    assert not tally.add(1, 1, later, "203.0.113.5", SENT)  # after the burst: a click
    counts = {(c.send_id, c.link): (c.clicks, c.prefetches) for c in tally.drained()}
    assert counts == {(1, 1): (3, 1), (1, 2): (1, 0)}
    assert tally.drained() == []


def test_the_salt_and_the_networks_it_marked_die_within_minutes() -> None:
    tally = ClickTally(ZONE, prefetch_seconds=3600)
    assert not tally.add(1, 1, SENT, "203.0.113.5", SENT)
    assert tally.add(1, 1, SENT + timedelta(seconds=1), "203.0.113.6", SENT)
    after = SENT + timedelta(seconds=click_tally.SALT_SECONDS)
    assert not tally.add(1, 1, after, "203.0.113.5", SENT)  # a new salt knows nobody


def test_scanners_fetching_right_after_delivery_count_as_prefetches_over_http(
    seed_config: Config, tmp_path: Path,
) -> None:
    config = with_clicks(seed_config, prefetch_seconds=60)
    engine, send_id, (message, *_) = sent(config, tmp_path / "Maildir", readers=1)
    path = CLICK_LINK.findall(html_of(message))[0].removeprefix("http://127.0.0.1:8000")
    now = [T0]  # deliveries were recorded sent at T0
    state = WebState(config, SECRETS, clock=lambda: now[0])
    with served(create_app(state)) as live, web_client.Client() as client:
        for seconds, address in ((3, "203.0.113.5"), (4, "203.0.113.9"), (5, "198.51.100.1"),
                                 (300, "203.0.113.5")):
            now[0] = T0 + timedelta(seconds=seconds)
            answer = client.get(live.url + path, headers={"X-Forwarded-For": address})
            assert answer.status_code == 302
        url = answer.headers["location"]
        assert clicks_reach(engine, send_id, {url: (3, 1)}) == {url: (3, 1)}
    state.engine.dispose()
