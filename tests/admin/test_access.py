"""Who gets into the operator console, over real HTTP against the app under uvicorn.

Every route is found by walking the app's own routing table, so a route added later cannot
slip through unguarded.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from click.testing import CliRunner
from starlette.routing import BaseRoute, Mount, Route

from publisher import accounts
from publisher.cli import main
from publisher.config import Config, Secrets
from publisher.db import admin_sessions, admin_users
from publisher.subscribers import store
from publisher.web.app import create_app
from publisher.web.state import WebState
from tests import web_client
from tests.admin.helpers import (
    PASSWORD,
    USERNAME,
    Served,
    console_served,
    csrf_of,
    hidden,
    log_in,
)
from tests.conftest import LiveServer
from tests.sending.helpers import add_confirmed, write_config_file
from tests.servers import free_port
from tests.subscribers.helpers import ENV, url_of

OPEN = {"/admin/login", "/admin/static/{name}"}  # the way in, and two public files


@pytest.fixture
def site(seed_config: Config) -> Iterator[Served]:
    with console_served(seed_config) as running:
        add_confirmed(running.engine, 3)
        yield running


def console_routes(routes: list[BaseRoute]) -> list[tuple[str, str]]:
    """(method, path) of every route under /admin, in the app's routing table."""
    found = []
    for route in routes:
        path = getattr(route, "path", "")
        if not path.startswith("/admin"):
            continue
        assert isinstance(route, Route) and not isinstance(route, Mount), \
            f"{path}: a mount would hide its routes from this test"
        found += [(method, path) for method in sorted(route.methods or ()) if method != "HEAD"]
    return found


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "1", path)


def session_cookie(response: httpx.Response) -> str:
    found = re.search(r"publisher_admin=([^;]+)", response.headers.get("set-cookie", ""))
    assert found, response.headers
    return found.group(1)


def test_every_console_route_and_action_refuses_a_visitor_without_a_session(
        site: Served) -> None:
    app = create_app(site.console.state)
    guarded = [(m, p) for m, p in console_routes(app.routes) if p not in OPEN]
    assert len(guarded) >= 15, guarded  # pages, live JSON and every action
    forged = {"publisher_admin": "InNvbWV0aGluZyI.forged"}
    for cookies in ({}, forged):
        with web_client.Client(base_url=site.url, cookies=cookies) as client:
            for method, path in guarded:
                response = client.request(method, concrete(path), data={"csrf": "x"},
                                          headers={"Origin": site.url})
                where = f"{method} {path} with cookies {cookies}"
                if method == "POST" or path.endswith(".json"):
                    assert response.status_code == 401, where
                else:
                    assert response.status_code == 303, where
                    assert response.headers["location"].startswith("/admin/login?next=%2Fadmin")
    with site.engine.connect() as conn:
        assert store.get(conn, 1) is not None  # the erase action did nothing


def test_there_is_no_default_account_and_the_console_says_how_to_create_one(
        seed_config: Config) -> None:
    with console_served(seed_config, account=False) as site, site.client() as client:
        page = client.get("/admin/login")
        assert page.status_code == 200
        assert "publisher admin set-password" in page.text
        assert 'name="password"' not in page.text
        for username, password in (("admin", "admin"), ("admin", "password"),
                                   ("root", "root"), (USERNAME, PASSWORD)):
            response = client.post("/admin/login", data={"username": username,
                                                         "password": password},
                                   headers={"Origin": site.url})
            assert "publisher_admin=" not in response.headers.get("set-cookie", "")
        assert client.get("/admin").status_code == 303


def test_wrong_passwords_are_rate_limited_per_account_and_per_address(site: Served) -> None:
    with site.client() as client:
        answers = [log_in(client, USERNAME, f"wrong password {n}").status_code
                   for n in range(6)]
        assert answers == [200] * 5 + [429]
        refused = log_in(client)  # even the right password waits now
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) > 0
        assert "publisher_admin=" not in refused.headers.get("set-cookie", "")
        # Another account from the same address: the per-address limit stops it next.
        others = [log_in(client, f"someone{n}", "guess guess guess").status_code
                  for n in range(6)]
        assert 429 in others


def test_a_post_without_this_sessions_csrf_token_is_refused(site: Served) -> None:
    with site.client() as client:
        log_in(client)
        token = csrf_of(client)
        action = "/admin/subscribers/1/unsubscribe"
        for data, origin in (({}, site.url), ({"csrf": "0" * 64}, site.url),
                             ({"csrf": token}, "https://evil.example")):
            refused = client.post(action, data=data, headers={"Origin": origin})
            assert refused.status_code == 403, (data, origin)
        with site.engine.connect() as conn:
            assert store.get(conn, 1).status == store.CONFIRMED  # type: ignore[union-attr]
        done = client.post(action, data={"csrf": token}, headers={"Origin": site.url})
        assert done.status_code == 303
        with site.engine.connect() as conn:
            assert store.get(conn, 1).status == store.UNSUBSCRIBED  # type: ignore[union-attr]
        assert client.post("/admin/login", data={"username": USERNAME, "password": PASSWORD},
                           headers={"Origin": site.url}).status_code == 403


def test_each_login_makes_a_new_session_and_only_its_hash_is_stored(site: Served) -> None:
    with site.client() as attacker:
        planted = session_cookie(log_in(attacker))
    with site.client() as client:
        client.cookies.set("publisher_admin", planted, path="/admin")  # fixed by an attacker
        first = session_cookie(log_in(client))
        second = session_cookie(log_in(client))
        assert len({planted, first, second}) == 3
        session_id = site.console.keys.session_id(second)
        assert session_id and len(session_id) >= 43  # 32 random bytes, base64
        with site.engine.connect() as conn:
            stored = conn.execute(sa.select(admin_sessions.c.id_hash)).scalars().all()
        assert stored == [hashlib.sha256(session_id.encode()).hexdigest()]
    for stale_cookie in (planted, first):
        with site.client() as stale:
            stale.cookies.set("publisher_admin", stale_cookie, path="/admin")
            assert stale.get("/admin").status_code == 303


def test_the_session_cookie_is_httponly_strict_scoped_and_secure_over_https(
        site: Served) -> None:
    with site.client() as client:
        plain = log_in(client).headers["set-cookie"]
    for flag in ("HttpOnly", "SameSite=strict", "Path=/admin", "Max-Age=43200"):
        assert flag in plain
    assert "Secure" not in plain
    # Behind a TLS proxy on loopback (uvicorn trusts its X-Forwarded-Proto), cookies are
    # Secure; a client speaking plain HTTP to the proxy's back end must echo them by hand.
    with site.client(**{"X-Forwarded-Proto": "https"}) as proxied:
        form = proxied.get("/admin/login")
        assert "; Secure" in form.headers["set-cookie"]
        nonce = re.search(r"publisher_admin_login=([^;]+)", form.headers["set-cookie"])
        assert nonce
        secure = proxied.post("/admin/login", data={
            "csrf": hidden(form.text, "csrf"), "username": USERNAME, "password": PASSWORD},
            headers={"Origin": "https://" + site.url.split("://")[1],
                     "Cookie": f"publisher_admin_login={nonce.group(1)}"})
    assert secure.status_code == 303
    assert "Secure" in secure.headers["set-cookie"].split("publisher_admin=", 1)[1].split(",")[0]


def test_a_session_ends_after_its_hours_whatever_the_activity(site: Served) -> None:
    with site.client() as client:
        log_in(client)
        site.clock.advance(hours=11, minutes=59)
        assert client.get("/admin").status_code == 200
        assert client.get("/admin/live.json").status_code == 200
        site.clock.advance(minutes=1)
        assert client.get("/admin").status_code == 303
        assert client.get("/admin/live.json").status_code == 401


def test_session_hours_comes_from_the_config(seed_config: Config) -> None:
    admin = seed_config.settings.admin.model_copy(update={"session_hours": 1})
    config = type(seed_config)(seed_config.settings.model_copy(update={"admin": admin}),
                               seed_config.root, seed_config.file)
    with console_served(config) as site, site.client() as client:
        assert "Max-Age=3600" in log_in(client).headers["set-cookie"]
        site.clock.advance(hours=1)
        assert client.get("/admin").status_code == 303


def test_logout_deletes_the_session_on_the_server(site: Served) -> None:
    with site.client() as client:
        cookie = session_cookie(log_in(client))
        out = client.post("/admin/logout", data={"csrf": csrf_of(client)},
                          headers={"Origin": site.url})
        assert (out.status_code, out.headers["location"]) == (303, "/admin/login")
    with site.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(admin_sessions)).scalar() == 0
    with site.client() as replay:
        replay.cookies.set("publisher_admin", cookie, path="/admin")
        assert replay.get("/admin").status_code == 303


def test_a_new_password_ends_the_accounts_open_sessions(site: Served) -> None:
    with site.client() as client:
        log_in(client)
        assert client.get("/admin").status_code == 200
        created = accounts.set_password(site.engine, USERNAME, "a brand new passphrase",
                                        site.clock())
        assert created is False
        assert client.get("/admin").status_code == 303
        assert log_in(client).status_code == 200  # the old password no longer opens it
        assert log_in(client, password="a brand new passphrase").status_code == 303


def test_login_returns_to_the_page_asked_for_but_never_to_another_site(site: Served) -> None:
    with site.client() as client:
        assert log_in(client, next_path="/admin/charts").headers["location"] == "/admin/charts"
    for elsewhere in ("https://evil.example/", "//evil.example/admin", "/admin\\@evil"):
        with site.client() as client:
            assert log_in(client, next_path=elsewhere).headers["location"] == "/admin"


def test_console_pages_are_not_stored_and_only_they_may_run_their_own_script(
        site: Served) -> None:
    with site.client() as client:
        log_in(client)
        for path in ("/admin", "/admin/login", "/admin/subscribers/1", "/admin/live.json"):
            response = client.get(path)
            assert response.headers["cache-control"] == "no-store", path
            policy = response.headers["content-security-policy"]
            assert "script-src 'self'" in policy and "unsafe-eval" not in policy, path
            assert "frame-ancestors 'none'" in policy
            assert response.headers["x-frame-options"] == "DENY"
        public = client.get("/subscribe").headers["content-security-policy"]
        assert "script-src" not in public  # default-src 'none' still forbids every script
        script = client.get("/admin/static/console.js")
        assert script.status_code == 200
        assert script.headers["content-type"].startswith("text/javascript")
        assert client.get("/admin/static/secrets.txt").status_code == 404


def test_login_rehashes_a_password_stored_with_older_parameters(site: Served) -> None:
    weak = PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1).hash(PASSWORD)
    with site.engine.begin() as conn:
        conn.execute(admin_users.update().values(password_hash=weak))
    with site.client() as client:
        assert log_in(client).status_code == 303
    with site.engine.connect() as conn:
        stored = conn.execute(sa.select(admin_users.c.password_hash)).scalar_one()
    assert stored != weak and stored.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


def test_set_password_reads_stdin_or_asks_twice_and_refuses_short_passwords(
        tmp_path: Path) -> None:
    config = write_config_file(tmp_path, free_port(), url_of(tmp_path / "publisher.toml"))
    runner = CliRunner()
    created = runner.invoke(main, ["--config", str(config), "admin", "set-password", "ops",
                                   "--password-stdin"], input=PASSWORD + "\n", env=ENV)
    assert created.exit_code == 0, created.output
    assert "ops: created" in created.output
    short = runner.invoke(main, ["--config", str(config), "admin", "set-password", "ops",
                                 "--password-stdin"], input="short\n", env=ENV)
    assert short.exit_code == 1 and "at least 12 characters" in short.output
    asked = runner.invoke(main, ["--config", str(config), "admin", "set-password"],
                          input=f"{PASSWORD}\nnot the same one\n{PASSWORD}x\n{PASSWORD}x\n",
                          env=ENV)
    assert asked.exit_code == 0, asked.output
    assert "do not match" in asked.output and "admin: created" in asked.output
    assert PASSWORD not in asked.output



def test_without_a_secret_key_the_console_says_so_and_opens_nothing(
        seed_config: Config) -> None:
    with console_served(seed_config) as site:
        no_keys = WebState(site.config, Secrets())
        with LiveServer(create_app(no_keys)) as server, \
                web_client.Client(base_url=server.url) as client:
            page = client.get("/admin/login")
            assert page.status_code == 503 and "PUBLISHER_SECRET_KEY" in page.text
            assert client.get("/admin").status_code == 303
            assert client.post("/admin/login", data={"username": USERNAME,
                                                     "password": PASSWORD}).status_code == 503
