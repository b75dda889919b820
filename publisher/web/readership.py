"""The counting hook of the archive and feeds `publisher serve` answers: each answered
request goes through publisher.analytics.tally (in memory, at once) and, when it counts,
its increments are written by publisher.analytics.counters in a background task that runs
once the response is sent.

Rule: counting never changes, delays or fails a response. A database that is away loses the
count (with a warning in the log), not the page; `[analytics] count_on_serve = false` turns
it off.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import sqlalchemy as sa
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response

from publisher.analytics import counters
from publisher.analytics.access_log import Hit
from publisher.analytics.tally import Batch
from publisher.errors import PublisherError
from publisher.logs import log_event
from publisher.web.state import WebState

Endpoint = Callable[[Request], Awaitable[Response]]
OPTED_OUT = "1"  # the value of DNT and Sec-GPC that asks not to be tracked


def hit_of(request: Request, status: int, state: WebState) -> Hit:
    """The request as the tally sees it."""
    headers = request.headers
    return Hit(at=state.clock(), method=request.method, path=request.scope["path"],
               status=status, ip=request.client.host if request.client else "",
               user_agent=headers.get("user-agent", ""),
               opted_out=OPTED_OUT in (headers.get("dnt"), headers.get("sec-gpc")))


def counting(endpoint: Endpoint, state: WebState) -> Endpoint:
    """The endpoint, counting what it answers when `[analytics] count_on_serve` is on."""
    if not state.config.settings.analytics.count_on_serve:
        return endpoint

    async def serve(request: Request) -> Response:
        response = await endpoint(request)
        batch = Batch()
        state.tally.add(hit_of(request, response.status_code, state), batch)
        if batch and response.background is None:  # the archive's responses carry none
            response.background = BackgroundTask(_write, state, batch)
        return response

    return serve


def _write(state: WebState, batch: Batch) -> None:
    try:
        counters.add(state.engine, batch)
    except (sa.exc.SQLAlchemyError, PublisherError) as exc:
        log_event("analytics_not_counted", error=str(exc))
