"""One app, one state: the public pages and the console share one engine (migrations checked
once), and errors are answered in one place, as pages or, under /api/, as problem documents."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from publisher.config import Config
from publisher.db import open_database
from publisher.i18n import translator_for
from publisher.web.app import create_app
from publisher.web.state import WebState
from tests import web_client
from tests.conftest import LiveServer
from tests.sending.helpers import SECRETS
from tests.servers import free_port


def test_the_public_pages_and_the_console_open_one_engine_between_them(
        seed_config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    opened: list[Engine] = []
    def counted(url: str, *args: Any) -> Engine:
        opened.append(open_database(url, *args))
        return opened[-1]

    monkeypatch.setattr("publisher.web.state.open_database", counted)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    site = seed_config.settings.site.model_copy(update={"base_url": base})
    config = replace(seed_config, settings=seed_config.settings.model_copy(update={"site": site}))
    state = WebState(config, SECRETS)
    with LiveServer(create_app(state), port), web_client.Client(base_url=base) as client:
        assert client.get("/admin/login").status_code == 200  # the console asks for accounts
        subscribed = client.post("/subscribe", data={"email": "reader@example.org"},
                                 headers={"Origin": base})
        assert subscribed.status_code == 303  # the public side writes the subscriber
        assert client.get("/admin/sends").status_code == 303
    assert len(opened) == 1
    assert opened[0] is state.engine
    state.engine.dispose()


def test_an_api_path_that_is_not_there_answers_a_problem_document(seed_config: Config) -> None:
    with LiveServer(create_app(WebState(seed_config, SECRETS))) as server, \
            web_client.Client(base_url=server.url) as client:
        missing = client.get("/api/v1/nothing-here")
        page = client.get("/nothing-here")
    title = translator_for(seed_config.site.language).gettext("Page not found")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json() == {"type": "about:blank", "title": title, "status": 404}
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert title in page.text
