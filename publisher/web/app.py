"""Compose the ASGI app from the route modules of each feature."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import BaseRoute

from publisher.config import Config, Secrets
from publisher.web import static, subscribe


def create_app(config: Config, secrets: Secrets) -> Starlette:
    """The app `publisher serve` runs: subscriber routes first, then the static archive."""
    routes: list[BaseRoute] = [*subscribe.routes(config, secrets), *static.routes(config)]
    return Starlette(routes=routes)
