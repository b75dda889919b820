"""Errors that carry their HTTP status, and the one place that turns them into answers.

Rule: handlers raise an `HttpProblem` (NotFound, BadRequest, …) or let a domain error of the
library rise (publisher.errors: SendNotFound, DatabaseFault); `exception_handlers` maps
each to its answer. Pages get the site's error page in its language with a way home; paths
under /api/ get a JSON problem document (RFC 9457: type, title, status, detail, and the
`errors` of a 422 naming each field at fault); the API's own refusals (401, 403, 409, 422,
429) have fixed English titles, never a detail that helps a guesser. Starlette's
own refusals (an unknown route, a method not allowed, a form its parser refuses) are mapped
by status to the same classes. While the database is away the answer is 503 with
Retry-After (500 for a database error that waiting will not cure).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import sqlalchemy as sa
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from publisher.errors import DatabaseFault, SendNotFound
from publisher.i18n import N_
from publisher.logs import log_event
from publisher.outage import as_error
from publisher.web.state import WebState

API_PREFIX = "/api/"
RETRY_AFTER_SECONDS = 60
ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]


class HttpProblem(Exception):
    """An answer other than success, with its status and the language strings that say it.

    `values` fill the text's placeholders; `headers` go on the answer (Allow, Retry-After)."""

    status = 500
    title = N_("Temporarily unavailable")
    text = N_("We cannot save anything right now. Nothing was changed: please try again in a "
              "minute.")
    way_home = False  # whether the page links to the home page
    api_title = ""  # the title of an API-only problem; else the page's, in the site's language

    def __init__(self, detail: str = "", headers: Mapping[str, str] | None = None,
                 errors: list[dict[str, str]] | None = None, **values: str) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.headers = dict(headers or {})
        self.errors = errors
        self.values = values


class BadRequest(HttpProblem):
    """A request that cannot be read: a form the parser refuses."""

    status = 400
    title = N_("This request cannot be read")
    text = N_("The form sent is not one of ours (too many fields, a file, or a damaged form). Go "
              "back, reload the page and send it again.")
    way_home = True


class NotFound(HttpProblem):
    """Nothing at this address (an unknown route, a missing file, a row that is not there)."""

    status = 404
    title = N_("Page not found")
    text = N_("There is no page at this address. It may have moved, or the link may be mistyped.")
    way_home = True


class MethodNotAllowed(HttpProblem):
    """A method this address does not take; Starlette's `Allow` header goes with it."""

    status = 405
    title = N_("This request is not possible here")
    text = N_("This address does not accept that kind of request.")
    way_home = True


class PayloadTooLarge(HttpProblem):
    """A body over the size limit; `limit` (bytes) is said on the page."""

    status = 413
    title = N_("Too much to send")
    text = N_("What was sent is larger than any of our forms ({limit} bytes at most). Nothing was "
              "saved.")
    way_home = True


class ServiceUnavailable(HttpProblem):
    """The database is away: try again after Retry-After."""

    status = DatabaseFault.http_status


class Unauthorized(HttpProblem):
    """No bearer token, or one that is unknown or revoked (the API only)."""

    status, api_title = 401, "Unauthorized"

    def __init__(self) -> None:
        super().__init__(headers={"WWW-Authenticate": "Bearer"})


class Forbidden(HttpProblem):
    """A valid token without the scope this operation needs (the API only)."""

    status, api_title = 403, "Forbidden"


class Conflict(HttpProblem):
    """The resource is not in a state the operation applies to (pause a done send)."""

    status, api_title = 409, "Conflict"


class Unprocessable(HttpProblem):
    """Input the API refuses; `errors` names each field at fault ({field, message})."""

    status, api_title = 422, "Unprocessable Content"


class TooManyRequests(HttpProblem):
    """Over a token's rate limit: Retry-After says when to come back."""

    status, api_title = 429, "Too Many Requests"


# Starlette raises HTTPException(status) itself: an unknown route, a method, a bad form.
_BY_STATUS: dict[int, type[HttpProblem]] = {
    problem.status: problem for problem in (BadRequest, NotFound, MethodNotAllowed)}
# Errors of the library that say what is missing; the web decides how that is answered.
_FROM_DOMAIN: dict[type[Exception], type[HttpProblem]] = {SendNotFound: NotFound}


def as_problem(exc: Exception) -> HttpProblem:
    """The HttpProblem an exception raised while answering stands for."""
    if isinstance(exc, HttpProblem):
        return exc
    if isinstance(exc, HTTPException):
        return _BY_STATUS.get(exc.status_code, HttpProblem)(headers=exc.headers)
    return _FROM_DOMAIN.get(type(exc), HttpProblem)(str(exc))


def problem_document(problem: HttpProblem, title: str) -> JSONResponse:
    """RFC 9457's application/problem+json for an API path."""
    body: dict[str, object] = {"type": "about:blank", "title": title, "status": problem.status}
    if problem.detail:
        body["detail"] = problem.detail
    if problem.errors is not None:
        body["errors"] = problem.errors
    return JSONResponse(body, status_code=problem.status, headers=problem.headers,
                        media_type="application/problem+json")


def exception_handlers(state: WebState) -> dict[int | type[Exception], ExceptionHandler]:
    """Every mapping from an error to its answer, for the app's Starlette()."""
    home = [("/", state.translator.gettext("Go to the home page"))]

    def answer(request: Request, found: HttpProblem) -> Response:
        if request.url.path.startswith(API_PREFIX):
            return problem_document(found, found.api_title
                                    or state.translator.gettext(found.title))
        response = state.page(found.title, [state.text(found.text, **found.values)],
                              found.status, links=home if found.way_home else None)
        response.headers.update(found.headers)
        return response

    async def problem(request: Request, exc: Exception) -> Response:
        return answer(request, as_problem(exc))

    async def database_fault(request: Request, exc: Exception) -> Response:
        fault = as_error(exc)
        log_event("database_error" if fault.fault == "error" else "database_unavailable",
                  path=request.url.path, reason=fault.reason)
        kind = HttpProblem if fault.fault == "error" else ServiceUnavailable
        return answer(request, kind(headers={"Retry-After": str(RETRY_AFTER_SECONDS)}))

    handlers: dict[int | type[Exception], ExceptionHandler] = {
        error: database_fault for error in (sa.exc.DBAPIError, sa.exc.TimeoutError,
                                            DatabaseFault)}
    handlers.update({status: problem for status in _BY_STATUS})
    handlers[HttpProblem] = problem
    handlers.update({kind: problem for kind in _FROM_DOMAIN})
    return handlers
