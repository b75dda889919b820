"""What every console handler shares: its view of the app's state, pages, and the guards in
front of each route.

Rule: no handler runs without a live session. A page asked for without one answers 303 to
/admin/login?next=…; JSON and every POST answer 401; a POST also needs this session's CSRF
token and an Origin of our own, or when the browser sends none a Referer of our own (else
403). Ids and keyset positions outside 1..MAX_ROW_ID are not found (404) or ignored, never
handed to the database. Every answer carries no-store and the console's CSP, which differs
from the public pages' only in allowing the console's own script file.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from sqlalchemy.engine import Engine
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from publisher import accounts
from publisher.clock import Clock
from publisher.config import Config, Secrets
from publisher.i18n import N_
from publisher.web import forms
from publisher.web.admin import auth
from publisher.web.errors import NotFound
from publisher.web.state import WebState

SESSION_COOKIE = "publisher_admin"
LOGIN_COOKIE = "publisher_admin_login"  # the login form's CSRF nonce, before any session
PREFIX = "/admin"
LOGIN_PATH = PREFIX + "/login"
MAX_FIELDS = 20
MAX_ROW_ID = 2**63 - 1  # the largest id a BIGINT (or SQLite INTEGER) column holds
_ROW_ID = re.compile(r"[0-9]{1,19}")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; form-action 'self'; "
       "frame-ancestors 'none'; base-uri 'none'")


@dataclass(frozen=True)
class Operator:
    """The signed-in operator of one request."""

    username: str
    session_id: str
    csrf: str


class Console:
    """The console's view of the app's one WebState: its pages, its session and its origin
    checks. It holds nothing of its own but the cookie keys derived from the secrets."""

    def __init__(self, state: WebState) -> None:
        self.state = state
        self.keys = auth.Keys(state.secrets.secret_keys)

    @property
    def config(self) -> Config:
        return self.state.config

    @property
    def secrets(self) -> Secrets:
        return self.state.secrets

    @property
    def engine(self) -> Engine:
        return self.state.engine

    @property
    def clock(self) -> Clock:
        return self.state.clock

    @property
    def language(self) -> str:
        return self.state.language

    def gettext(self, message: str, /, **values: object) -> str:
        """A msgid in the console's language (the site's), `values` filled in."""
        return self.state.translator.gettext(message, **values)

    def ngettext(self, singular: str, plural: str, n: int, /, **values: object) -> str:
        return self.state.translator.ngettext(singular, plural, n, **values)

    @property
    def session_lifetime(self) -> timedelta:
        return timedelta(hours=self.config.settings.admin.session_hours)

    def local(self, moment: datetime | None) -> str:
        """A moment in the site's zone, saying which: 2024-06-16 09:00:00 UTC+08:00."""
        return zoned(moment, self.config.site.zone)

    def render(self, template: str, operator: Operator | None, http_status: int = 200,
               **values: Any) -> HTMLResponse:
        html = self.state.templates.get_template(f"admin/{template}").render(
            language=self.language, site=self.config.site, operator=operator,
            **self.state.translator.template_functions(),
            when=self.local, **values)
        return HTMLResponse(html, status_code=http_status)

    def message(self, heading: str, text: str, operator: Operator | None,
                status: int = 200) -> HTMLResponse:
        """A page that says one thing under `heading` (a msgid, translated here)."""
        return self.render("message.html.j2", operator, status, heading=self.gettext(heading),
                           text=text)

    def operator(self, request: Request) -> Operator | None:
        """The operator whose live session this request's cookie names, if any."""
        if not self.secrets.secret_keys:
            return None
        session_id = self.keys.session_id(request.cookies.get(SESSION_COOKIE, ""))
        if session_id is None:
            return None
        username = accounts.session_user(self.engine, session_id, self.clock())
        if username is None:
            return None
        return Operator(username, session_id, self.keys.csrf(session_id))

    def foreign(self, request: Request) -> bool:
        """The request does not show that it comes from a page of ours: its Origin (or,
        when the browser sends none, its Referer) is another site's, or missing."""
        if request.headers.get("sec-fetch-site") == "cross-site":
            return True
        ours = {_origin(str(request.url)), _origin(self.config.site.base_url)}
        origin = request.headers.get("origin")
        if origin is not None:
            return _origin(origin) not in ours
        referer = request.headers.get("referer")
        return referer is None or _origin(referer) not in ours


def zoned(moment: datetime | None, zone: tzinfo) -> str:
    """A moment in `zone` with its UTC offset (UTC itself when there is none); a dash for
    no moment."""
    if moment is None:
        return "—"
    local = moment.astimezone(zone)
    offset = local.utcoffset() or timedelta(0)
    minutes = round(offset.total_seconds() / 60)
    sign = "-" if minutes < 0 else "+"
    hours, rest = divmod(abs(minutes), 60)
    name = f"UTC{sign}{hours:02d}:{rest:02d}" if minutes else "UTC"
    return f"{local:%Y-%m-%d %H:%M:%S} {name}"


def _origin(url: str) -> str:
    """scheme://host[:port] of a URL, lower-cased; empty for `null` or a path."""
    parts = urlsplit(url.strip())
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else ""


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
    """Where to go after login: the console path `value` names once its dot segments are
    resolved as a browser would (`/admin/..//x` is `//x`, another site); PREFIX for
    anything that leaves /admin, names a host, or holds a backslash or control character."""
    if not value or "\\" in value or any(ord(char) < 0x20 or char == "\x7f" for char in value):
        return PREFIX
    parts = urlsplit(value)
    path = unquote(parts.path)
    if parts.scheme or parts.netloc or not path.startswith("/") or "\\" in path:
        return PREFIX
    normal = posixpath.normpath(path)
    if normal != PREFIX and not normal.startswith(PREFIX + "/"):
        return PREFIX
    return quote(normal) + (f"?{parts.query}" if parts.query else "")


def row_id(value: object) -> int | None:
    """An id of a row from a URL (path or query), or None when it cannot be one."""
    text = str(value)
    if not _ROW_ID.fullmatch(text) or not 0 < int(text) <= MAX_ROW_ID:
        return None
    return int(text)


def path_id(request: Request, name: str) -> int:
    """The id a path names; NotFound (404) when no row can have it."""
    found = row_id(request.path_params[name])
    if found is None:
        raise NotFound()
    return found


def keyset_after(request: Request) -> int:
    """The keyset position `after=<id>` of a listing; 0 (the start) when it is no id."""
    return row_id(request.query_params.get("after", "0")) or 0


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
    return await forms.form_fields(request, MAX_FIELDS)  # its size: forms.BodyLimit


def action(console: Console, handler: Handler) -> Endpoint:
    """A POST: 401 without a session; 403 without this session's CSRF token or from a
    foreign origin. The handler finds the checked form in request.state.form."""

    async def guarded(request: Request) -> Response:
        operator = console.operator(request)
        if operator is None:
            return console.message(N_("Signed out"), console.gettext(
                "Your session has ended or expired. Sign in again."), None, 401)
        form = await form_of(request)
        if console.foreign(request) or not auth.same_token(operator.csrf, form.get("csrf", "")):
            return console.message(N_("Request refused"), console.gettext(
                "This request did not come from the console's own page, or the page is too old. "
                "Reload it and retry."), operator, 403)
        request.state.form = form
        return await handler(request, operator)

    return with_console_headers(guarded)


def see(path: str) -> RedirectResponse:
    """Post/Redirect/Get."""
    return RedirectResponse(path, status_code=303)
