"""What every console handler shares: state, pages, and the guards in front of each route.

Rule: no handler runs without a live session. A page asked for without one answers 303 to
/admin/login?next=…; JSON and every POST answer 401; a POST also needs this session's CSRF
token and an Origin of our own (else 403). Every answer carries no-store and the console's
CSP, which differs from the public pages' only in allowing the console's own script file.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from sqlalchemy.engine import Engine
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from publisher.clock import Clock, utc_now
from publisher.config import Config, Secrets
from publisher.db import open_database
from publisher.i18n import strings_for
from publisher.ratelimit import KeyedLimiter
from publisher.templating import environment
from publisher.web.admin import auth

SESSION_COOKIE = "publisher_admin"
LOGIN_COOKIE = "publisher_admin_login"  # the login form's CSRF nonce, before any session
PREFIX = "/admin"
LOGIN_PATH = PREFIX + "/login"
MAX_FORM_BYTES = 4096
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")


@dataclass(frozen=True)
class Operator:
    """The signed-in operator of one request."""

    username: str
    session_id: str
    csrf: str


@dataclass
class Console:
    """State the console routes share; tests inject the clock and the login limits."""

    config: Config
    secrets: Secrets
    clock: Clock = utc_now
    ip_limiter: KeyedLimiter = field(
        default_factory=lambda: KeyedLimiter(rate=10, per=60, burst=10, clock=time.monotonic))
    account_limiter: KeyedLimiter = field(
        default_factory=lambda: KeyedLimiter(rate=5, per=300, burst=5, clock=time.monotonic))

    @cached_property
    def engine(self) -> Engine:
        return open_database(self.config.database_url)

    @cached_property
    def keys(self) -> auth.Keys:
        return auth.Keys(self.secrets.secret_keys)

    @cached_property
    def templates(self) -> jinja2.Environment:
        return environment(self.config.templates_dir)

    @property
    def language(self) -> str:
        return self.config.site.language

    @property
    def t(self) -> Mapping[str, str]:
        return strings_for(self.language)

    @property
    def session_lifetime(self) -> timedelta:
        return timedelta(hours=self.config.settings.admin.session_hours)

    def local(self, moment: datetime | None) -> str:
        """A moment in the site's zone, as operators read logs: 2024-06-16 09:00."""
        if moment is None:
            return "—"
        return moment.astimezone(self.config.site.zone).strftime("%Y-%m-%d %H:%M:%S")

    def render(self, template: str, operator: Operator | None, http_status: int = 200,
               **values: Any) -> HTMLResponse:
        html = self.templates.get_template(f"admin/{template}").render(
            language=self.language, site=self.config.site, t=self.t, operator=operator,
            when=self.local, **values)
        return HTMLResponse(html, status_code=http_status)

    def message(self, heading_key: str, text: str, operator: Operator | None,
                status: int = 200) -> HTMLResponse:
        return self.render("message.html.j2", operator, status, heading=self.t[heading_key],
                           text=text)

    def operator(self, request: Request) -> Operator | None:
        """The operator whose live session this request's cookie names, if any."""
        if not self.secrets.secret_keys:
            return None
        session_id = self.keys.session_id(request.cookies.get(SESSION_COOKIE, ""))
        if session_id is None:
            return None
        username = auth.session_user(self.engine, session_id, self.clock())
        if username is None:
            return None
        return Operator(username, session_id, self.keys.csrf(session_id))

    def foreign(self, request: Request) -> bool:
        """The browser says the request comes from a page that is not ours."""
        if request.headers.get("sec-fetch-site") == "cross-site":
            return True
        origin = request.headers.get("origin")
        ours = {request.url.netloc, urlsplit(self.config.site.base_url).netloc}
        return origin is not None and urlsplit(origin).netloc not in ours


Endpoint = Callable[[Request], Awaitable[Response]]
Handler = Callable[[Request, Operator], Awaitable[Response]]


def with_console_headers(endpoint: Endpoint) -> Endpoint:
    """No-store and the console's CSP on whatever the endpoint answers."""

    async def serve(request: Request) -> Response:
        response = await endpoint(request)
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers["Content-Security-Policy"] = CSP
        return response

    return serve


def safe_next(value: str | None) -> str:
    """Where to go after login: a console path of ours, never another site."""
    if not value or not value.startswith(PREFIX) or value.startswith("//") or "\\" in value:
        return PREFIX
    return value


def page(console: Console, handler: Handler) -> Endpoint:
    """A GET page: without a session, 303 to the login page, which comes back here after."""

    async def guarded(request: Request) -> Response:
        operator = console.operator(request)
        if operator is None:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"{LOGIN_PATH}?next={quote(target, safe='')}",
                                    status_code=303)
        return await handler(request, operator)

    return with_console_headers(guarded)


def data(console: Console, handler: Handler) -> Endpoint:
    """A GET JSON endpoint: 401 without a session."""

    async def guarded(request: Request) -> Response:
        operator = console.operator(request)
        if operator is None:
            return JSONResponse({"error": "not signed in"}, status_code=401)
        return await handler(request, operator)

    return with_console_headers(guarded)


async def form_of(request: Request) -> dict[str, str]:
    if int(request.headers.get("content-length") or 0) > MAX_FORM_BYTES:
        return {}
    form = await request.form(max_files=0, max_fields=20)
    return {key: value for key, value in form.items() if isinstance(value, str)}


def action(console: Console, handler: Handler) -> Endpoint:
    """A POST: 401 without a session; 403 without this session's CSRF token or from a
    foreign origin. The handler finds the checked form in request.state.form."""

    async def guarded(request: Request) -> Response:
        operator = console.operator(request)
        if operator is None:
            return console.message("admin_signed_out_title", console.t["admin_signed_out"],
                                   None, 401)
        form = await form_of(request)
        if console.foreign(request) or not auth.same_token(operator.csrf, form.get("csrf", "")):
            return console.message("forbidden_title", console.t["admin_forbidden"],
                                   operator, 403)
        request.state.form = form
        return await handler(request, operator)

    return with_console_headers(guarded)


def see(path: str) -> RedirectResponse:
    """Post/Redirect/Get."""
    return RedirectResponse(path, status_code=303)
