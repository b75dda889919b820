"""What a stranger can do to the operator console, over real HTTP to the app under uvicorn:
failed logins from elsewhere, posts without an Origin, `next` paths that leave /admin, and
numbers no row can have. Client addresses come from X-Forwarded-For, which uvicorn trusts
from loopback as it would from a proxy in front of `publisher serve`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import httpx
import pytest

from publisher.config import Config
from publisher.i18n import STATUS_LABELS, TOTAL_LABELS, translator_for
from publisher.sending.send_issue import ready, start
from publisher.subscribers import store
from tests.admin.helpers import (
    PASSWORD,
    USERNAME,
    Served,
    console_served,
    csrf_of,
    log_in,
    with_language,
)
from tests.conftest import SEED_ISSUE
from tests.sending.helpers import add_confirmed

OPERATOR, STRANGER = "198.51.100.7", "203.0.113.9"
TOO_BIG = "9" * 20  # beyond 64 bits


@dataclass
class Ticks:
    """The login delays' monotonic clock, moved by the test."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def site(seed_config: Config) -> Iterator[Served]:
    with console_served(seed_config) as running:
        add_confirmed(running.engine, 3)
        yield running


def from_address(site: Served, address: str) -> httpx.Client:
    return site.client(**{"X-Forwarded-For": address})


def test_a_strangers_failed_logins_never_keep_the_operator_out(site: Served) -> None:
    with from_address(site, STRANGER) as stranger:
        tries = [log_in(stranger, USERNAME, f"guess {n}").status_code for n in range(12)]
    assert tries[:5] == [200] * 5 and set(tries[5:]) == {429}
    with from_address(site, OPERATOR) as operator:
        assert log_in(operator).status_code == 303


def test_logins_that_succeed_spend_nothing(site: Served) -> None:
    with from_address(site, OPERATOR) as operator:
        assert [log_in(operator).status_code for _ in range(12)] == [303] * 12
        wrong = [log_in(operator, password=f"typo {n}").status_code for n in range(5)]
        assert wrong == [200] * 5  # the five free tries are all still there


def test_failed_logins_meet_a_delay_that_grows_and_ends(site: Served) -> None:
    ticks = Ticks()
    site.console.state.login_delays.clock = ticks
    site.console.state.address_delays.clock = ticks
    with from_address(site, OPERATOR) as client:
        assert [log_in(client, password=f"typo {n}").status_code
                for n in range(5)] == [200] * 5
        waits = []
        for _ in range(3):
            refused = log_in(client)
            assert refused.status_code == 429
            waits.append(int(refused.headers["Retry-After"]))
            ticks.now += waits[-1]
            assert log_in(client, password="another typo").status_code == 200
        assert waits == [5, 10, 20]
        ticks.now += 40
        assert log_in(client).status_code == 303  # the delay ended; no block remains
        assert log_in(client, password="typo after").status_code == 200  # forgiven


def test_concurrent_guesses_cannot_slip_past_the_delay(site: Served) -> None:
    with from_address(site, STRANGER) as stranger:
        form = stranger.get("/admin/login")
        token = re.search(r'name="csrf" value="([^"]*)"', form.text)
        assert token

        def guess(n: int) -> int:
            return stranger.post("/admin/login", data={
                "csrf": token.group(1), "username": USERNAME, "password": f"guess {n}"},
                headers={"Origin": site.url}).status_code

        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(pool.map(guess, range(32)))
    assert answers.count(200) == 5 and answers.count(429) == 27


REFUSED_SOURCES = [
    {}, {"Referer": "https://evil.example/admin/subscribers/1"}, {"Origin": "null"},
    {"Origin": "null", "Referer": "{url}/admin/subscribers/1"},
    {"Origin": "https://evil.example", "Referer": "{url}/admin/subscribers/1"},
    {"Origin": "{url}.evil.example"}, {"Referer": "{url}@evil.example/"},
]


def test_a_console_post_without_an_origin_or_referer_of_ours_is_refused(site: Served) -> None:
    with site.client() as client:
        log_in(client)
        token = csrf_of(client)
        for headers in REFUSED_SOURCES:
            sent = {name: value.format(url=site.url) for name, value in headers.items()}
            refused = client.post("/admin/subscribers/1/unsubscribe", data={"csrf": token},
                                  headers=sent)
            assert refused.status_code == 403, sent
    with site.engine.connect() as conn:
        assert store.get(conn, 1).status == store.CONFIRMED  # type: ignore[union-attr]


def test_a_browser_that_sends_only_a_referer_of_ours_is_heard(site: Served) -> None:
    with site.client() as client:
        log_in(client)
        done = client.post("/admin/subscribers/1/unsubscribe", data={"csrf": csrf_of(client)},
                           headers={"Referer": f"{site.url}/admin/subscribers/1"})
        assert done.status_code == 303
        form = client.get("/admin/login")
        token = re.search(r'name="csrf" value="([^"]*)"', form.text)
        assert token
        login = {"csrf": token.group(1), "username": USERNAME, "password": PASSWORD}
        assert client.post("/admin/login", data=login).status_code == 403
        assert client.post("/admin/login", data=login,
                           headers={"Referer": f"{site.url}/admin/login"}).status_code == 303
    with site.engine.connect() as conn:
        assert store.get(conn, 1).status == store.UNSUBSCRIBED  # type: ignore[union-attr]


NEXT = {"/admin/..//issues": "/admin", "/admin/%2e%2e//issues": "/admin",
        "/admin/../issues": "/admin", "/admin/..%2F..%2Fevil.example": "/admin",
        "/admin/./..//evil.example/x": "/admin", "/administrator": "/admin",
        "/admin/sends/../charts": "/admin/charts",
        "/admin/subscribers?q=a%40b": "/admin/subscribers?q=a%40b"}


def test_login_goes_back_only_to_a_console_path_once_dots_are_resolved(site: Served) -> None:
    for asked, went in NEXT.items():
        with site.client() as client:
            assert log_in(client, next_path=asked).headers["location"] == went, asked
            form = client.get("/admin/login", params={"next": asked})
            assert f'name="next" value="{went}"' in form.text.replace("&amp;", "&"), asked


@pytest.fixture
def with_a_send(seed_config: Config, database_url: str) -> Iterator[httpx.Client]:
    """An operator signed in, one send of 3 subscribers, on SQLite and on PostgreSQL (each
    refuses a number beyond 64 bits its own way)."""
    database = seed_config.settings.database.model_copy(update={"url": database_url})
    config = replace(seed_config,
                     settings=seed_config.settings.model_copy(update={"database": database}))
    with console_served(config) as site:
        add_confirmed(site.engine, 3)
        start(site.engine, site.config, ready(site.config, SEED_ISSUE), site.clock())
        with site.client(Origin=site.url) as client:
            log_in(client)
            yield client


def test_ids_beyond_64_bits_are_not_found_and_odd_positions_ignored(
        with_a_send: httpx.Client) -> None:
    for path in (f"/admin/sends/{TOO_BIG}", f"/admin/sends/{TOO_BIG}/live.json",
                 f"/admin/sends/{TOO_BIG}/cancel", f"/admin/subscribers/{TOO_BIG}",
                 f"/admin/subscribers/{TOO_BIG}/erase", f"/admin/sends/{2**63}"):
        assert with_a_send.get(path).status_code == 404, path
    for after in ("²", "٣", TOO_BIG, "-1", "1e3"):
        for path in ("/admin/subscribers", "/admin/sends/1"):
            page = with_a_send.get(path, params={"after": after, "n": after,
                                                 "notice": "retried"})
            assert page.status_code == 200, (path, after, page.text[:300])
    token = csrf_of(with_a_send)
    for action in ("sends/{}/pause", "sends/{}/resume", "sends/{}/retry", "sends/{}/cancel",
                   "subscribers/{}/unsubscribe", "subscribers/{}/erase"):
        path = "/admin/" + action.format(TOO_BIG)
        assert with_a_send.post(path, data={"csrf": token}).status_code == 404, action


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_every_total_on_the_subscribers_page_is_labelled_in_the_sites_language(
        seed_config: Config, language: str) -> None:
    _ = translator_for(language).gettext
    with console_served(with_language(seed_config, language)) as site, \
            site.client() as client:
        add_confirmed(site.engine, 2)
        log_in(client)
        page = client.get("/admin/subscribers").text
    labels = dict((key, label.strip()) for label, key in re.findall(
        r'<li>([^<]*)<b data-total="([^"]+)">', page))
    assert set(labels) == {*store.STATUSES, "bounce_events", "complaint_events"}
    for key, label in labels.items():
        assert label in (_(STATUS_LABELS[key]) if key in STATUS_LABELS else None,
                         _(TOTAL_LABELS[key]) if key in TOTAL_LABELS else None), (key, label)
        assert "_" not in label
    if language == "zh-CN":
        assert not any(re.search("[A-Za-z]", label) for label in labels.values()), labels

