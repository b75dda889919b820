"""The API served for real: uvicorn on a loopback port over the seed site, its database on
SQLite or PostgreSQL, its mail going to an SMTP catcher on loopback, and a publisher.toml
that the real CLI (`publisher admin token …`) reads too."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy.engine import Engine

from publisher import api_tokens
from publisher.config import Config, load_config
from publisher.dev.catcher import Catcher
from publisher.ratelimit import KeyedLimiter
from publisher.web.app import create_app
from publisher.web.state import WebState
from tests import web_client
from tests.conftest import LiveServer
from tests.sending.helpers import SECRETS, write_config_file
from tests.servers import free_port
from tests.subscribers.helpers import web_config

EVERY_SCOPE = api_tokens.SCOPES


def unlimited() -> KeyedLimiter:
    return KeyedLimiter(rate=10**6, per=1, burst=10**6, clock=time.monotonic)


@dataclass
class Api:
    """A running server: its URL, config (object and file), state, and SMTP catcher."""

    url: str
    config: Config
    config_file: Path
    state: WebState
    catcher: Catcher

    @property
    def engine(self) -> Engine:
        return self.state.engine

    def token(self, name: str = "tests", scopes: tuple[str, ...] = EVERY_SCOPE) -> str:
        """A new token's secret (made through the library; the CLI's tests make theirs)."""
        return api_tokens.create(self.engine, name, scopes, self.state.clock())

    def client(self, secret: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        return web_client.Client(base_url=self.url + "/api/v1", headers=headers, timeout=30)


def site_file(folder: Path, smtp_port: int, database_url: str, base_url: str) -> Path:
    """publisher.toml of the seed site at base_url, in Chinese and English, for the CLI in a
    subprocess."""
    path = write_config_file(folder, smtp_port, database_url)
    text = path.read_text(encoding="utf-8")
    text = text.replace('base_url = "http://127.0.0.1:8000"', f'base_url = "{base_url}"')
    text = text.replace('language = "zh-CN"', 'language = "zh-CN"\nlanguages = ["zh-CN", "en"]', 1)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def api(database_url: str, tmp_path: Path) -> Iterator[Api]:
    """The app on loopback over `database_url` (each test on SQLite and PostgreSQL), limits
    out of the way unless a test sets its own on `api.state`."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    with Catcher(tmp_path / "Maildir") as catcher:
        config_file = site_file(tmp_path, catcher.port, database_url, url)
        config = web_config(load_config(config_file=config_file), url, catcher.port, database_url)
        state = WebState(config, SECRETS, ip_limiter=unlimited(), address_limiter=unlimited(),
                         api_limiter=unlimited())
        with LiveServer(create_app(state), port):
            yield Api(url, config, config_file, state, catcher)
        state.engine.dispose()
