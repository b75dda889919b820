"""Tokens through the real CLI (`publisher admin token create|list|revoke`) against the
running server: the API is off until one exists, a token's secret is printed once and only
its hash is stored, a revoked or wrong token is 401 and a missing scope 403, each a problem
document that tells a guesser nothing."""

from __future__ import annotations

import hashlib
import re

import pytest
import sqlalchemy as sa

from publisher.db import api_tokens
from tests.api.conftest import Api
from tests.cli import run_publisher_here


def admin_token(api: Api, *args: str) -> str:
    done = run_publisher_here(api.config_file, "admin", "token", *args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_api_is_off_until_a_token_exists_and_a_revoked_token_is_refused(api: Api) -> None:
    with api.client() as anonymous:
        off = anonymous.get("/subscribers")
        off_schema = anonymous.get("/openapi.json")
    assert off.status_code == off_schema.status_code == 404
    assert off.headers["content-type"] == "application/problem+json"
    assert "/api/v1 is off" in admin_token(api, "list")

    printed = admin_token(api, "create", "crm", "--scope", "subscribers:read",
                          "--scope", "sends:read")
    secret = re.fullmatch(r"crm: (pub_[A-Za-z0-9_-]{43})\n", printed)
    assert secret is not None, printed
    with api.engine.connect() as conn:
        stored = conn.execute(sa.select(api_tokens)).one()
    assert stored.token_hash == hashlib.sha256(secret[1].encode()).hexdigest()
    assert secret[1] not in repr(tuple(stored))  # only the hash is kept
    assert "last used -" in admin_token(api, "list")

    with api.client(secret[1]) as client:
        assert client.get("/subscribers").status_code == 200
        assert client.get("/subscribers").status_code == 200
    listed = admin_token(api, "list")
    assert re.fullmatch(r"crm  subscribers:read,sends:read  created \S+  last used \S+\n",
                        listed), listed
    assert "last used -" not in listed

    assert admin_token(api, "revoke", "crm") == "revoked crm\n"
    with api.client(secret[1]) as client:
        revoked = client.get("/subscribers")
    assert revoked.status_code == 404  # no valid token left: the API is off again
    admin_token(api, "create", "other", "--scope", "sends:read")
    with api.client(secret[1]) as client:
        refused = client.get("/subscribers")
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"
    assert "revoked" in admin_token(api, "list")
    again = run_publisher_here(api.config_file, "admin", "token", "create", "crm", "--scope",
                               "sends:read")
    assert again.returncode == 1 and "exists" in again.stderr


def test_last_used_is_written_at_most_once_a_minute(api: Api) -> None:
    secret = api.token()
    with api.client(secret) as client:
        for _ in range(5):
            assert client.get("/sends").status_code == 200
    with api.engine.connect() as conn:
        first = conn.execute(sa.select(api_tokens.c.last_used_at)).scalar_one()
    with api.client(secret) as client:
        assert client.get("/sends").status_code == 200
    with api.engine.connect() as conn:
        assert conn.execute(sa.select(api_tokens.c.last_used_at)).scalar_one() == first


@pytest.mark.parametrize("authorization", [
    "Bearer pub_" + "A" * 43, "Bearer nonsense", "Basic dXNlcjpwYXNz", "Bearer", "bearer x",
    "Bearer pub_" + "A" * 4000])
def test_a_wrong_token_is_401_with_nothing_that_helps_a_guesser(
    api: Api, authorization: str
) -> None:
    api.token()
    with api.client() as client:
        refused = client.get("/subscribers", headers={"Authorization": authorization})
    assert refused.status_code == 401
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json() == {"type": "about:blank", "title": "Unauthorized", "status": 401}


def test_a_token_without_the_scope_is_403_for_each_operation_it_lacks(api: Api) -> None:
    reader = api.token("reader", ("subscribers:read",))
    with api.client(reader) as client:
        allowed = client.get("/subscribers")
        answers = [client.get("/sends"), client.get("/sends/1/report"),
                   client.post("/sends/1/pause"), client.post("/subscribers", json={}),
                   client.patch("/subscribers/1", json={}), client.delete("/subscribers/1"),
                   client.post("/subscribers/1/unsubscribe")]
    assert allowed.status_code == 200
    assert [a.status_code for a in answers] == [403] * len(answers)
    assert answers[0].json() == {"type": "about:blank", "title": "Forbidden", "status": 403}
