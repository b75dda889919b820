"""Serving the built archive and feeds (filled by the feeds/archive feature)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from publisher.config import Config


def routes(config: Config) -> list[BaseRoute]:
    return []
