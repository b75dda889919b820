"""What guards the API besides tokens, over HTTP: a per-token rate limit (429 with
Retry-After), the body size limit (413 problem), the app's security headers, and a database
outage (503 problem with Retry-After, nothing stored) on a real PostgreSQL server stopped
under the running server, as the web pages' outage test does."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from publisher import api_tokens
from publisher.config import Config
from publisher.db import open_database
from publisher.dev.catcher import Catcher
from publisher.ratelimit import KeyedLimiter
from publisher.web.app import SECURITY_HEADERS, create_app
from publisher.web.forms import MAX_FORM_BYTES
from publisher.web.state import WebState
from tests import web_client
from tests.api.conftest import Api
from tests.conftest import LiveServer
from tests.sending.helpers import SECRETS
from tests.servers import PostgresServer, free_port, postgres_server
from tests.subscribers.helpers import web_config


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    """A server of this module's own: the outage test stops it."""
    with postgres_server() as server:
        yield server


def test_each_token_has_its_own_rate_limit_answered_with_retry_after(api: Api) -> None:
    api.state.api_limiter = KeyedLimiter(rate=1, per=60, burst=3, clock=time.monotonic)
    first, second = api.token("first"), api.token("second")
    with api.client(first) as one, api.client(second) as other:
        answers = [one.get("/sends").status_code for _ in range(4)]
        limited = one.get("/sends")
        others = other.get("/sends")
    assert answers == [200, 200, 200, 429]
    assert limited.status_code == 429 and 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.json() == {"type": "about:blank", "title": "Too Many Requests",
                              "status": 429}
    assert others.status_code == 200


def test_a_body_over_the_limit_is_a_413_problem_and_answers_carry_the_security_headers(
    api: Api
) -> None:
    with api.client(api.token()) as client:
        large = client.post("/subscribers", json={"email": "a@example.org",
                                                  "name": "x" * MAX_FORM_BYTES})
        chunked = client.post("/subscribers", content=iter([b"{" + b" " * 3000] * 3))
        fine = client.get("/subscribers")
    for refused in (large, chunked):
        assert refused.status_code == 413
        assert refused.headers["content-type"] == "application/problem+json"
    for answer in (large, fine):
        for name, value in SECURITY_HEADERS.items():
            assert answer.headers[name.decode()] == value.decode()


@pytest.mark.postgres
def test_while_postgres_is_down_the_api_answers_503_with_retry_after_and_stores_nothing(
    pg: PostgresServer, seed_config: Config, tmp_path: Path
) -> None:
    url = pg.create_database("api")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with Catcher(tmp_path / "Maildir") as catcher:
        state = WebState(web_config(seed_config, base, catcher.port, url), SECRETS)
        secret = api_tokens.create(state.engine, "crm", api_tokens.SCOPES, state.clock())
        headers = {"Authorization": f"Bearer {secret}"}
        body = {"email": "reader@example.org", "consent": {
            "at": "2026-01-01T00:00:00Z", "source": "shop"}}
        with LiveServer(create_app(state), port), web_client.Client(
                base_url=base + "/api/v1", headers=headers) as client:
            pg.stop("fast")
            try:
                down = [client.post("/subscribers", json=body), client.get("/subscribers"),
                        client.get("/openapi.json")]
            finally:
                pg.start()
            up = client.post("/subscribers", json=body)
    for answer in down:
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "60"
        assert answer.headers["content-type"] == "application/problem+json"
        assert "reader@example.org" not in answer.text
    assert up.status_code == 202
    with open_database(url).connect() as conn:
        assert conn.execute(sa.text("SELECT status FROM subscribers")).scalars().all() == [
            "confirmed"]
