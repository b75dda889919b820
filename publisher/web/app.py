"""Compose the ASGI app from the route modules of each feature, with security headers.

One WebState (publisher.web.state) serves every part: the public pages (subscribe,
confirm, unsubscribe, preferences), the console under /admin, the JSON API under /api/v1
(publisher.web.api), the click counter of emails' links under /l (publisher.web.clicks),
then the static archive, whose feed fetches and issue page views are counted
(publisher.web.readership). Errors are mapped in one place,
publisher.web.errors: pages in the site's language with a way home, never bare text
(400, 404, 405, 413 for a body over publisher.web.forms.MAX_FORM_BYTES, 503 while the
database is away), and problem documents under /api/.
At start-up the state's Courier sends the one-off mails left in the outbox (a lone `serve`
delivers them) and the click flusher starts; at shutdown both stop (the flusher after a
last write).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from publisher.web import admin, api, clicks, forms, readership, static, subscribe
from publisher.web.errors import NotFound, exception_handlers
from publisher.web.state import WebState

SECURITY_HEADERS = {
    b"content-security-policy": (b"default-src 'none'; style-src 'self' 'unsafe-inline'; "
                                 b"img-src 'self' https: data:; form-action 'self'; "
                                 b"frame-ancestors 'none'; base-uri 'none'"),
    b"x-frame-options": b"DENY",
    b"x-content-type-options": b"nosniff",
    # Tokens live in URLs: never send them to another site. (`no-referrer` would also make
    # browsers send `Origin: null` on our own form posts, defeating the origin check.)
    b"referrer-policy": b"same-origin",
    b"cross-origin-opener-policy": b"same-origin",
}


class SecurityHeaders:
    """Adds the security headers to every HTTP response (pages, feeds, errors)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS.items() if k not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


Endpoint = Callable[[Request], Awaitable[Response]]


def _misses_raise(endpoint: Endpoint) -> Endpoint:
    """The archive answers a missing file with a bare 404; raise it instead, so the error
    handler serves the same page as for an unknown route."""

    async def serve(request: Request) -> Response:
        response = await endpoint(request)
        if response.status_code == 404:
            raise NotFound()
        return response

    return serve


def _with_html_misses(routes: list[BaseRoute], state: WebState) -> list[BaseRoute]:
    """The archive's routes, counting what they answer (publisher.web.readership) and
    raising their misses."""
    return [Route(route.path, _misses_raise(readership.counting(route.endpoint, state)),
                  methods=route.methods, name=route.name) if isinstance(route, Route) else route
            for route in routes]


def create_app(state: WebState) -> Starlette:
    """The app `publisher serve` runs, over one state: subscriber routes, the operator
    console under /admin, the JSON API under /api/v1, then the static archive; tests give
    the state clocks and limits of their own.

    A database that cannot be reached answers 503 with Retry-After, in the site's language;
    every flow writes in one transaction, so a failed request leaves nothing half-done."""
    routes = [*clicks.routes(state),  # first: the busiest route is matched first
              *subscribe.routes(state),
              *admin.routes(state),
              *api.routes(state),  # before the archive's catch-all
              *_with_html_misses(static.routes(state.config), state)]

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        state.courier.wake()
        async with clicks.flushing(state):
            yield
        await state.courier.close()

    return Starlette(routes=routes,
                     middleware=[Middleware(SecurityHeaders), Middleware(forms.BodyLimit)],
                     exception_handlers=exception_handlers(state), lifespan=lifespan)
