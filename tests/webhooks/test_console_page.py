"""The console's webhooks page: each endpoint's counts, its oldest undelivered age and
last failure, the latest failed deliveries with their reply, and a replay through a POST
form that carries the session's CSRF token."""

from __future__ import annotations

import pytest

from publisher.config import Config
from publisher.sending import webhooks
from tests.admin.helpers import csrf_of, log_in, with_language
from tests.admin.test_console_language import visible_text
from tests.webhooks.console_site import FAR, READERS, webhooks_console
from tests.webhooks.helpers import SECRET_ENV


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, "a-secret")


def test_the_page_shows_each_endpoint_and_the_latest_failures_with_their_reply(
        seed_config: Config) -> None:
    with webhooks_console(with_language(seed_config, "en")) as (site, receiver), \
            site.client() as client:
        log_in(client)
        text = " ".join(visible_text(client.get("/admin/webhooks").text).split())
        nav = client.get("/admin/sends").text.split("<nav", 1)[1].split("</nav>")[0]
    assert len(receiver.received) == READERS
    near = receiver.url
    assert f"{near} Events subscribed confirmed" in text
    assert "Delivered 0 Pending 0 Failed 3 Oldest undelivered — Last failure 410 ok" in text
    assert f"{FAR} Events" in text
    assert "Delivered 0 Pending 3 Failed 0 Oldest undelivered 5 min 00 s Last failure —" in text
    assert text.count(f"{near} confirmed id ") == READERS
    assert text.count(" 1 410 ok ") == READERS
    assert '<a href="/admin/webhooks">Webhooks</a>' in nav  # on every console page


def test_a_replay_from_the_page_queues_the_events_again_with_its_csrf_token(
        seed_config: Config) -> None:
    with webhooks_console(with_language(seed_config, "en")) as (site, receiver), \
            site.client() as client:
        log_in(client)
        origin = {"Origin": site.url}
        csrf = csrf_of(client, "/admin/webhooks")
        refused = client.post("/admin/webhooks/replay", data={"since": "1h", "url": ""},
                              headers=origin)
        assert refused.status_code == 403
        bad = client.post("/admin/webhooks/replay", data={"csrf": csrf, "since": "yesterday"},
                          headers=origin)
        assert bad.headers["location"] == "/admin/webhooks?notice=bad_since"
        done = client.post("/admin/webhooks/replay",
                           data={"csrf": csrf, "since": "1h", "url": receiver.url},
                           headers=origin)
        assert done.status_code == 303
        page = client.get(done.headers["location"]).text
        status = {e.url: e for e in webhooks.status(site.engine, [], site.clock())}
    assert "3 deliveries are queued again; the daemon delivers them." in page
    assert status[receiver.url].pending == READERS
    assert status[FAR].pending == READERS


def test_the_chinese_page_names_its_columns_in_chinese(seed_config: Config) -> None:
    with webhooks_console(with_language(seed_config, "zh")) as (site, _), \
            site.client() as client:
        log_in(client)
        text = " ".join(visible_text(client.get("/admin/webhooks").text).split())
    assert "已送达 0 待送达 3 失败 0 最早未送达" in text
    assert "最近失败的投递" in text and "重新投递" in text
