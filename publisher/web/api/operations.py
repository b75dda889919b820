"""What every /api/v1 operation does before and after its handler: the one gate and the
one declaration the OpenAPI document is made from.

An `Operation` names its method, path, scope, models and the statuses it can answer. Its
endpoint (`endpoint`) checks, in this order: a bearer token that is valid (else 404 while
the API is off, i.e. no valid token exists; 401 with `WWW-Authenticate: Bearer` otherwise),
the token's rate limit (429 with Retry-After), the scope (403), the path's id (404), then
parses the query and the JSON body with the operation's pydantic models (422 naming each
field). Text the database could not store (NUL, lone surrogates) is refused there too. The
handler's model is the answer (or 204 when it returns None). Body size (413) and database
outages (503 with Retry-After) are answered by the app's middleware and error handlers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from publisher import api_tokens
from publisher.api_tokens import ApiToken
from publisher.web.errors import (
    Forbidden,
    NotFound,
    TooManyRequests,
    Unauthorized,
    Unprocessable,
)
from publisher.web.state import WebState

PREFIX = "/api/v1"
MAX_ID = 2**31 - 1


@dataclass(frozen=True)
class Call:
    """One authorised request, its input validated."""

    state: WebState
    token: ApiToken
    request: Request
    id: int  # the path's {id}; 0 when the path has none
    query: Any  # the operation's query model, or None
    body: Any  # the operation's body model, or None


Handler = Callable[[Call], Awaitable[BaseModel | None]]


@dataclass(frozen=True)
class Operation:
    """One method on one path, everything the gate and the OpenAPI document need."""

    method: str
    path: str  # under PREFIX, `{id}` for a numeric id
    operation_id: str
    summary: str
    scope: str
    handler: Handler
    response: type[BaseModel] | None  # None: 204 No Content
    status: int = 200
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    conflicts: bool = False  # may answer 409

    @property
    def problems(self) -> tuple[int, ...]:
        """Every status other than success this operation may answer."""
        found = {401, 403, 404, 429, 503}
        if self.body is not None:
            found |= {413, 422}
        if self.query is not None or "{id}" in self.path:
            found.add(422)
        if self.conflicts:
            found.add(409)
        return tuple(sorted(found))


def refused(exc: ValidationError, prefix: tuple[str | int, ...] = ()) -> Unprocessable:
    """A 422 naming each field pydantic refused."""
    errors = [{"field": ".".join(str(part) for part in (*prefix, *error["loc"])) or "body",
               "message": error["msg"]} for error in exc.errors()]
    return Unprocessable(errors=errors)


def field_refused(field: str, message: str) -> Unprocessable:
    return Unprocessable(errors=[{"field": field, "message": message}])


def _storable(value: Any) -> bool:
    """No text the databases refuse: NUL characters, lone surrogates."""
    if isinstance(value, str):
        return "\x00" not in value and not any("\ud800" <= c <= "\udfff" for c in value)
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(_storable(v) for v in value)
    return True


def bearer_token(state: WebState, request: Request) -> ApiToken:
    """The request's valid token; NotFound while the API is off, else Unauthorized."""
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    token = (api_tokens.authenticate(state.engine, secret.strip(), state.clock())
             if scheme.lower() == "bearer" else None)
    if token is not None:
        return token
    if not api_tokens.any_active(state.engine):
        raise NotFound()
    raise Unauthorized()


def _within_limit(state: WebState, token: ApiToken) -> None:
    if not state.api_limiter.allow(token.name):
        wait = max(1, math.ceil(state.api_limiter.wait_time(token.name)))
        raise TooManyRequests(headers={"Retry-After": str(wait)})


def _path_id(request: Request) -> int:
    raw = request.path_params.get("id")
    if raw is None:
        return 0
    if not (isinstance(raw, str) and raw.isascii() and raw.isdigit()) or not (
            1 <= int(raw) <= MAX_ID):
        raise NotFound()
    return int(raw)


def _query(operation: Operation, request: Request) -> Any:
    if operation.query is None:
        return None
    values = dict(request.query_params)
    if not _storable(values):
        raise field_refused("query", "contains a character that cannot be stored")
    try:
        return operation.query.model_validate(values)
    except ValidationError as exc:
        raise refused(exc) from exc


async def _body(operation: Operation, request: Request) -> Any:
    if operation.body is None:
        return None
    raw = await request.body()
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise field_refused("body", "not a JSON document") from exc
    if not _storable(data):
        raise field_refused("body", "contains a character that cannot be stored")
    try:
        return operation.body.model_validate(data)
    except ValidationError as exc:
        raise refused(exc) from exc


def endpoint(state: WebState, operation: Operation) -> Callable[[Request], Awaitable[Response]]:
    """The Starlette endpoint of one operation: the gate, the handler, the JSON answer."""

    async def answer(request: Request) -> Response:
        token = bearer_token(state, request)
        _within_limit(state, token)
        if operation.scope not in token.scopes:
            raise Forbidden()
        call = Call(state, token, request, _path_id(request), _query(operation, request),
                    await _body(operation, request))
        result = await operation.handler(call)
        if result is None:
            return Response(status_code=204)
        return JSONResponse(result.model_dump(mode="json"), status_code=operation.status,
                            headers={"Cache-Control": "no-store"})

    return answer


def routes(state: WebState, operations: list[Operation]) -> list[Route]:
    """One Route per path, each method its operation's endpoint."""
    by_path: dict[str, list[Operation]] = {}
    for operation in operations:
        by_path.setdefault(operation.path, []).append(operation)
    found = []
    for path, group in by_path.items():
        endpoints = {op.method: endpoint(state, op) for op in group}

        async def dispatch(request: Request,
                           endpoints: dict[str, Callable[[Request], Awaitable[Response]]]
                           = endpoints) -> Response:
            method = "GET" if request.method == "HEAD" else request.method
            return await endpoints[method](request)

        found.append(Route(PREFIX + path, dispatch, methods=list(endpoints)))
    return found
