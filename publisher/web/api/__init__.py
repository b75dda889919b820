"""The JSON API under /api/v1: readers and sends for other tools, with scoped bearer tokens.

Off (404 problem for every path) until `publisher admin token create` makes a token; each
operation needs its scope (subscribers:read|write, sends:read|write). The routes are made
from the operations of publisher.web.api.subscribers and .sends (publisher.web.api
.operations is the gate each passes); GET /api/v1/openapi.json serves the OpenAPI 3.1
document generated from the same pydantic models (publisher.web.api.openapi).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from publisher import api_tokens
from publisher.web.api import openapi, operations, sends, subscribers
from publisher.web.errors import NotFound
from publisher.web.state import WebState

OPERATIONS = (*subscribers.OPERATIONS, *sends.OPERATIONS)
OPENAPI_PATH = operations.PREFIX + "/openapi.json"


def routes(state: WebState) -> list[BaseRoute]:
    """Every API route, and the OpenAPI document's (served while the API is on)."""

    async def openapi_document(request: Request) -> Response:
        if not api_tokens.any_active(state.engine):
            raise NotFound()
        return JSONResponse(openapi.document(OPERATIONS))

    return [Route(OPENAPI_PATH, openapi_document, methods=["GET"]),
            *operations.routes(state, list(OPERATIONS))]
