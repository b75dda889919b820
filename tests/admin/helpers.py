"""Helpers for console tests: the real app under uvicorn, a clock the test moves, and an
HTTP client that signs in through the login form as a browser does."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.engine import Engine

from publisher import accounts
from publisher.clock import utc_now
from publisher.config import Config
from publisher.db import open_database
from publisher.web.admin.console import Console
from publisher.web.app import create_app
from publisher.web.state import WebState
from tests import web_client
from tests.conftest import LiveServer
from tests.sending.helpers import SECRETS
from tests.servers import free_port

START = datetime(2024, 6, 16, 1, 0, tzinfo=UTC)
USERNAME = "operator"
PASSWORD = "correct horse battery staple"


@dataclass
class Clock:
    """The console's wall clock, moved by the test."""

    now: datetime = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class Served:
    url: str
    config: Config
    engine: Engine
    clock: Clock
    console: Console = field(repr=False)

    def client(self, **headers: str) -> httpx.Client:
        return web_client.Client(base_url=self.url, follow_redirects=False, timeout=30,
                                 headers=headers)


def with_language(config: Config, language: str) -> Config:
    site = config.settings.site.model_copy(update={"language": language})
    return replace(config, settings=config.settings.model_copy(update={"site": site}))


@contextmanager
def console_served(config: Config, account: bool = True,
                   wall_clock: bool = False) -> Iterator[Served]:
    """The real app (console included) on a loopback port, its clock in the test's hands
    (or the wall clock, to watch a real send); with `account`, USERNAME / PASSWORD exists."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    site = config.settings.site.model_copy(update={"base_url": base})
    config = replace(config, settings=config.settings.model_copy(update={"site": site}))
    engine = open_database(config.database_url)
    clock = Clock()
    if account:
        accounts.set_password(engine, USERNAME, PASSWORD, clock())
    state = WebState(config, SECRETS, clock=utc_now if wall_clock else clock)
    console = Console(state)  # the test's view of the app's one state
    with LiveServer(create_app(state), port):
        yield Served(base, config, engine, clock, console)
    engine.dispose()


def hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no hidden {name} field in:\n{html[:2000]}"
    return found.group(1)


def log_in(client: httpx.Client, username: str = USERNAME, password: str = PASSWORD,
           next_path: str = "/admin") -> httpx.Response:
    """Fetch the login form (its CSRF cookie and token), then post it as a browser does."""
    form = client.get("/admin/login", params={"next": next_path})
    assert form.status_code == 200, form.text[:2000]
    return client.post("/admin/login", data={
        "csrf": hidden(form.text, "csrf"), "next": next_path, "username": username,
        "password": password}, headers={"Origin": str(client.base_url).rstrip("/")})


def csrf_of(client: httpx.Client, path: str = "/admin/sends") -> str:
    """This session's CSRF token, as a page of the console carries it."""
    page = client.get(path)
    assert page.status_code == 200, page.text[:2000]
    return hidden(page.text, "csrf")
