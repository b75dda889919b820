"""The operator console under /admin: login, sends (live progress, pause, resume, cancel,
retry), subscribers (search, history, unsubscribe, erase), charts, readership and
webhooks.

Rule: every route but the login page and the two static files sits behind a session
(publisher.web.admin.console's guards); `routes` is the one list the app mounts.
"""

from __future__ import annotations

from starlette.routing import BaseRoute

from publisher.web.admin import login, overview, people, readership, sends, webhooks
from publisher.web.admin.console import Console
from publisher.web.state import WebState


def routes(state: WebState) -> list[BaseRoute]:
    """Every console route, over the app's one state, for publisher.web.app to mount
    before the static archive."""
    console = Console(state)
    return [*login.routes(console), *sends.routes(console), *people.routes(console),
            *overview.routes(console), *readership.routes(console),
            *webhooks.routes(console)]
