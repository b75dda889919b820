"""Subscribe, confirm, unsubscribe and preferences routes (filled by the subscribers feature)."""

from __future__ import annotations

from starlette.routing import BaseRoute

from publisher.config import Config, Secrets


def routes(config: Config, secrets: Secrets) -> list[BaseRoute]:
    return []
