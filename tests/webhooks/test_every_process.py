"""Every process that opens the database with a config records events for its endpoints,
not only the daemon: a reader who subscribes through `serve` before `publisher run` ever
ran is reported once the daemon starts, and a CLI verb stores the endpoints it is configured
with (and fails the pending rows of one no longer named), as the daemon does."""

from __future__ import annotations

import signal
from functools import partial
from pathlib import Path

import pytest
import sqlalchemy as sa

from publisher.config import load_config
from publisher.db import open_database, webhook_endpoints, webhook_events
from publisher.web.app import create_app
from publisher.web.state import WebState
from tests import web_client
from tests.cli import invoke_publisher
from tests.conftest import LiveServer
from tests.sending.helpers import SECRETS, wait_until
from tests.servers import free_port
from tests.webhooks.helpers import SECRET_ENV
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_daemon_kills import daemon, received_more, write_site


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, "a-secret")


def served_config(path: Path, port: int) -> Path:
    """The site's publisher.toml with its base_url on `port`, where the test serves it."""
    text = path.read_text(encoding="utf-8")
    config = load_config(config_file=path)
    path.write_text(text.replace(f'base_url = "{config.site.base_url}"',
                                 f'base_url = "http://127.0.0.1:{port}"'), encoding="utf-8")
    return path


def test_a_subscribe_through_serve_before_any_run_is_delivered_once_run_starts(
        tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'publisher.db'}"
    port = free_port()
    with Receiver() as receiver:
        path = served_config(write_site(tmp_path, receiver.url, url), port)
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace('events = ["confirmed", "unsubscribed"]',
                                     'events = ["subscribed", "confirmed"]'), encoding="utf-8")
        state = WebState(load_config(config_file=path), SECRETS)
        base = f"http://127.0.0.1:{port}"
        with LiveServer(create_app(state), port):
            answer = web_client.post(base + "/subscribe", data={"email": "ada@example.org"},
                                     headers={"Origin": base})
        assert answer.status_code == 303
        with state.engine.connect() as conn:
            assert conn.execute(sa.select(webhook_events.c.type)).scalars().all() == [
                "subscribed"]
        assert receiver.received == []
        process = daemon(path)
        try:
            wait_until(partial(received_more, receiver, 0), seconds=60)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
        state.engine.dispose()
    (request,) = receiver.received
    assert request.event["type"] == "subscribed"
    assert request.event["data"]["subscriber"]["email"] == "ada@example.org"


def test_a_cli_verb_stores_the_configured_endpoints_before_the_daemon_ran(
        tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'publisher.db'}"
    path = write_site(tmp_path, "http://127.0.0.1:9/hook", url)
    assert invoke_publisher("webhooks", "status", config=path).exit_code == 0
    engine = open_database(url)
    with engine.connect() as conn:
        stored = sorted(conn.execute(sa.select(webhook_endpoints.c.url,
                                               webhook_endpoints.c.type)).all())
    assert stored == [("http://127.0.0.1:9/hook", "confirmed"),
                      ("http://127.0.0.1:9/hook", "unsubscribed")]
    engine.dispose()
