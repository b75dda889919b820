"""Compose the ASGI app from the route modules of each feature, with security headers.

Errors are pages in the site's language with a way home, never bare text: 400 (a form the
parser refuses), 404 (unknown routes and files missing from the archive), 405, 413 (a body
over publisher.web.forms.MAX_FORM_BYTES, counted as it is read), and 503 while the database
is away.
At start-up the subscriber state's Courier sends the one-off mails left in the outbox (a
lone `serve` delivers them); at shutdown it stops.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from publisher.config import Config, Secrets
from publisher.errors import DatabaseFault
from publisher.i18n import strings_for
from publisher.logs import log_event
from publisher.outage import as_error
from publisher.web import admin, forms, static, subscribe
from publisher.web.admin.console import Console

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


RETRY_AFTER_SECONDS = 60
Endpoint = Callable[[Request], Awaitable[Response]]


def _misses_raise(endpoint: Endpoint) -> Endpoint:
    """The archive answers a missing file with a bare 404; raise it instead, so the 404
    handler serves the same page as for an unknown route."""

    async def serve(request: Request) -> Response:
        response = await endpoint(request)
        if response.status_code == 404:
            raise HTTPException(404)
        return response

    return serve


def _with_html_misses(routes: list[BaseRoute]) -> list[BaseRoute]:
    return [Route(route.path, _misses_raise(route.endpoint), methods=route.methods,
                  name=route.name) if isinstance(route, Route) else route
            for route in routes]


def create_app(config: Config, secrets: Secrets,
               subscribe_state: subscribe.SubscribeApp | None = None,
               console: Console | None = None) -> Starlette:
    """The app `publisher serve` runs: subscriber routes, the operator console under
    /admin, then the static archive; tests inject state with clocks and limits of their own.

    A database that cannot be reached answers 503 with Retry-After, in the site's language;
    every flow writes in one transaction, so a failed request leaves nothing half-done."""
    state = subscribe_state or subscribe.SubscribeApp(config, secrets)
    routes = [*subscribe.routes(config, secrets, state),
              *admin.routes(console or Console(config, secrets)),
              *_with_html_misses(static.routes(config))]
    home = [("/", strings_for(config.site.language)["home_link"])]

    async def not_found(request: Request, exc: Exception) -> Response:
        return state.page("not_found_title", [state.text("not_found")], 404, links=home)

    async def bad_request(request: Request, exc: Exception) -> Response:
        return state.page("bad_request_title", [state.text("bad_request")], 400, links=home)

    async def too_large(request: Request, exc: Exception) -> Response:
        text = state.text("too_large", limit=str(forms.MAX_FORM_BYTES))
        return state.page("too_large_title", [text], 413, links=home)

    async def method_not_allowed(request: Request, exc: Exception) -> Response:
        response = state.page("method_not_allowed_title", [state.text("method_not_allowed")],
                              405, links=home)
        if isinstance(exc, HTTPException) and exc.headers:
            response.headers.update(exc.headers)  # Allow
        return response

    async def database_fault(request: Request, exc: Exception) -> Response:
        fault = as_error(exc)
        log_event("database_error" if fault.fault == "error" else "database_unavailable",
                  path=request.url.path, reason=fault.reason)
        status = 500 if fault.fault == "error" else fault.http_status
        response = state.page("unavailable_title", [state.text("unavailable")], status)
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    handlers: dict[int | type[Exception], Callable[[Request, Exception], Awaitable[Response]]]
    handlers = {error: database_fault
                for error in (sa.exc.DBAPIError, sa.exc.TimeoutError, DatabaseFault)}
    handlers.update({400: bad_request, 404: not_found, 405: method_not_allowed,
                     413: too_large})

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        state.courier.wake()
        yield
        await state.courier.close()

    return Starlette(routes=routes,
                     middleware=[Middleware(SecurityHeaders), Middleware(forms.BodyLimit)],
                     exception_handlers=handlers, lifespan=lifespan)
