"""Compose the ASGI app from the route modules of each feature, with security headers."""

from __future__ import annotations

import sqlalchemy as sa
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from publisher.config import Config, Secrets
from publisher.errors import DatabaseFault
from publisher.logs import log_event
from publisher.outage import as_error
from publisher.web import static, subscribe

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


def create_app(config: Config, secrets: Secrets,
               subscribe_state: subscribe.SubscribeApp | None = None) -> Starlette:
    """The app `publisher serve` runs: subscriber routes first, then the static archive.

    A database that cannot be reached answers 503 with Retry-After, in the site's language;
    every flow writes in one transaction, so a failed request leaves nothing half-done."""
    state = subscribe_state or subscribe.SubscribeApp(config, secrets)
    routes = [*subscribe.routes(config, secrets, state), *static.routes(config)]

    async def database_fault(request: Request, exc: Exception) -> Response:
        fault = as_error(exc)
        log_event("database_error" if fault.fault == "error" else "database_unavailable",
                  path=request.url.path, reason=fault.reason)
        status = 500 if fault.fault == "error" else fault.http_status
        response = state.page("unavailable_title", [state.text("unavailable")], status)
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    handlers = {error: database_fault
                for error in (sa.exc.DBAPIError, sa.exc.TimeoutError, DatabaseFault)}
    return Starlette(routes=routes, middleware=[Middleware(SecurityHeaders)],
                     exception_handlers=handlers)
