"""Signing in and out of the console, and its two static files.

Rule: the login form carries a CSRF token bound to a nonce cookie of its own; failed
attempts slow down their (address, account) pair and their address (429 with Retry-After
before any password is checked, a delay that grows, never a block that another address can
hold); an attempt counts as failed until its password proves right, so concurrent guesses
cannot slip past the delay, and a login that succeeds costs nothing. Each login makes a new
session id and ends the one the browser held, so a session id planted before login is
worth nothing after it. Logout deletes the server-side session.
"""

from __future__ import annotations

import math
import re
from secrets import token_urlsafe

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from publisher import accounts
from publisher.i18n import N_
from publisher.ratelimit import client_key
from publisher.templating import template_file
from publisher.web.admin import auth
from publisher.web.admin.console import (
    LOGIN_COOKIE,
    LOGIN_PATH,
    PREFIX,
    SESSION_COOKIE,
    Console,
    Operator,
    action,
    form_of,
    safe_next,
    see,
    with_console_headers,
)
from publisher.web.errors import NotFound

ASSETS = {"console.css": "text/css; charset=utf-8",
          "console.js": "text/javascript; charset=utf-8"}


def routes(console: Console) -> list[BaseRoute]:
    handlers = _Handlers(console)
    return [
        Route(LOGIN_PATH, with_console_headers(handlers.login_form), methods=["GET"]),
        Route(LOGIN_PATH, with_console_headers(handlers.login), methods=["POST"]),
        Route(PREFIX + "/logout", action(console, handlers.logout), methods=["POST"]),
        Route(PREFIX + "/static/{name}", handlers.asset, methods=["GET"]),
    ]


def _keys(request: Request, username: str) -> tuple[str, str]:
    """The keys a login attempt is delayed by: its address, and (address, account)."""
    address = client_key(request.client.host if request.client else "unknown")
    return address, f"{address} {username.lower()}"


def _no_secret(console: Console) -> Response:
    return console.message(N_("The console is not set up"), console.gettext(
        "The console signs its cookies with PUBLISHER_SECRET_KEY, which is not set: make one "
        "with publisher secret-key, set it in the environment of publisher serve and "
        "restart."), None, 503)


class _Handlers:
    def __init__(self, console: Console) -> None:
        self.console = console

    def _form(self, request: Request, error: str = "", username: str = "",
              status: int = 200) -> Response:
        """The login form; its token signs a nonce only this browser holds (double submit)."""
        console = self.console
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        if not re.fullmatch(r"[A-Za-z0-9_-]{32,64}", nonce):
            nonce = token_urlsafe(32)
        response = console.render("login.html.j2", None, status, error=error,
                                  username=username[:64], csrf=console.keys.login_csrf(nonce),
                                  next=safe_next(request.query_params.get("next")))
        response.set_cookie(LOGIN_COOKIE, nonce, max_age=3600, path=LOGIN_PATH, httponly=True,
                            samesite="strict", secure=request.url.scheme == "https")
        return response

    async def login_form(self, request: Request) -> Response:
        console = self.console
        if not console.secrets.secret_keys:
            return _no_secret(console)
        if not accounts.has_accounts(console.engine):
            return console.render("setup.html.j2", None)
        return self._form(request)  # also when signed in: signing in again replaces it

    async def login(self, request: Request) -> Response:
        console = self.console
        form = await form_of(request)
        nonce = request.cookies.get(LOGIN_COOKIE, "")
        if not console.secrets.secret_keys:
            return _no_secret(console)
        if console.foreign(request) or not nonce or not auth.same_token(
                console.keys.login_csrf(nonce), form.get("csrf", "")):
            return console.message(N_("Request refused"), console.gettext(
                "This request did not come from the console's own page, or the page is too "
                "old. Reload it and retry."), None, 403)
        username = form.get("username", "").strip()
        address, pair = _keys(request, username)
        state = console.state
        wait = max(state.address_delays.wait(address), state.login_delays.wait(pair))
        if wait > 0:
            response = console.message(N_("Too many requests"), console.gettext(
                "Too many sign-in attempts. Wait a few minutes and try again."), None, 429)
            response.headers["Retry-After"] = str(math.ceil(wait))
            return response
        state.address_delays.fail(address)  # until the password proves right
        state.login_delays.fail(pair)
        if not await run_in_threadpool(accounts.check_password, console.engine, username,
                                       form.get("password", ""), console.clock()):
            return self._form(request, console.gettext("Wrong username or password."), username)
        state.address_delays.refund(address)
        state.login_delays.forgive(pair)
        return self._signed_in(request, username, form.get("next"))

    def _signed_in(self, request: Request, username: str, next_path: str | None) -> Response:
        console = self.console
        old = console.keys.session_id(request.cookies.get(SESSION_COOKIE, ""))
        if old is not None:
            accounts.close_session(console.engine, old)
        session_id = accounts.open_session(console.engine, username, console.clock(),
                                       console.session_lifetime)
        response = see(safe_next(next_path))
        response.set_cookie(SESSION_COOKIE, console.keys.cookie(session_id),
                            max_age=int(console.session_lifetime.total_seconds()),
                            path=PREFIX, httponly=True, samesite="strict",
                            secure=request.url.scheme == "https")
        response.delete_cookie(LOGIN_COOKIE, path=LOGIN_PATH, httponly=True, samesite="strict")
        return response

    async def logout(self, request: Request, operator: Operator) -> Response:
        accounts.close_session(self.console.engine, operator.session_id)
        response = see(LOGIN_PATH)
        response.delete_cookie(SESSION_COOKIE, path=PREFIX, httponly=True, samesite="strict",
                               secure=request.url.scheme == "https")
        return response

    async def asset(self, request: Request) -> Response:
        """The console's stylesheet and script: public files, like the archive's."""
        name = request.path_params["name"]
        if name not in ASSETS:
            raise NotFound()
        path = template_file(self.console.config.templates_dir, f"admin/{name}")
        return Response(path.read_bytes(), media_type=ASSETS[name],
                        headers={"Cache-Control": "no-cache"})
