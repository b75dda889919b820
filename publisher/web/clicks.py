"""`/l/<token>`: a counted link of an email answers 302 to its URL at once and counts the
click in memory (publisher.analytics.click_tally); a flusher writes the counts once a second.

Rules. The token names (send, link) only, signed under its own purpose
(publisher.tokens.link_token); the URL comes from the send's `links` rows, never from the
request, so no token can send anyone to a URL an issue did not link (no open redirect). A
bad token or a link the send does not have is the site's 404 page. Nothing about the reader
is stored: no address, no User-Agent, no cookie; DNT and Sec-GPC change nothing, as nothing
names anyone. A click costs no database round trip once its link is known: verified tokens,
links' URLs and sends' latest sent times are kept in memory (a link's URL never changes);
the times are read again by the flusher for the sends clicked since its last run, so they
are at most about a second old. A crash loses at most the last second's counts; a database
that is away keeps them in memory until it is back (with a warning in the log).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import TypeVar

import sqlalchemy as sa
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from publisher.analytics import counters, figures
from publisher.errors import BadToken, PublisherError
from publisher.logs import log_event
from publisher.sending import outbox
from publisher.tokens import link_from
from publisher.urls import CLICK_PREFIX
from publisher.web.errors import NotFound
from publisher.web.state import WebState

FLUSH_SECONDS = 1.0
CACHE_LIMIT = 100_000  # entries per cache: emptied, not grown, past this
K = TypeVar("K")
V = TypeVar("V")


def _remember(cache: dict[K, V], key: K, value: V) -> None:
    if len(cache) >= CACHE_LIMIT:
        cache.clear()
    cache[key] = value


def _link_of(state: WebState, token: str) -> tuple[int, int]:
    known = state.known_links
    found = known.tokens.get(token)
    if found is None:
        try:
            found = link_from(state.signer, token)
        except BadToken:
            raise NotFound() from None
        _remember(known.tokens, token, found)
    return found


def _load(state: WebState, send_id: int, number: int) -> tuple[str | None, datetime | None]:
    engine = state.engine
    return figures.link_target(engine, send_id, number), outbox.last_sent_at(engine, send_id)


async def _click(state: WebState, request: Request) -> Response:
    send_id, number = _link_of(state, request.path_params["token"])
    known = state.known_links
    url = known.targets.get((send_id, number))
    if url is None:
        url, last_sent = await run_in_threadpool(_load, state, send_id, number)
        if url is None:
            raise NotFound()
        _remember(known.targets, (send_id, number), url)
        known.last_sent.setdefault(send_id, last_sent)
    if request.method == "GET":  # a HEAD is a link checker asking, not a reader going
        known.clicked.add(send_id)
        address = request.client.host if request.client else ""
        state.click_tally.add(send_id, number, state.clock(), address,
                              known.last_sent.get(send_id))
    return Response(status_code=302, headers={"location": url, "cache-control": "no-store"})


def routes(state: WebState) -> list[BaseRoute]:
    """The click route. It answers whatever `[analytics] clicks` says now: the links of
    sends started with it on are in readers' mail and keep working."""

    async def click(request: Request) -> Response:
        return await _click(state, request)

    return [Route(CLICK_PREFIX + "{token}", click, methods=["GET", "HEAD"])]


def flush(state: WebState) -> None:
    """Write the counts waiting in memory, and read again the latest sent time of the
    sends clicked since the last flush."""
    tally, known = state.click_tally, state.known_links
    counts = tally.drained()
    clicked, known.clicked = known.clicked, set()
    try:
        if counts:
            counters.add_clicks(state.engine, counts)
    except (sa.exc.SQLAlchemyError, PublisherError) as exc:
        tally.put_back(counts)
        log_event("clicks_not_counted", error=str(exc))
        return
    for send_id in clicked:
        try:
            known.last_sent[send_id] = outbox.last_sent_at(state.engine, send_id)
        except (sa.exc.SQLAlchemyError, PublisherError):
            known.clicked.add(send_id)  # read it again next time


ACCESS_LOGGER = "uvicorn.access"


class UnloggedClicks(logging.Filter):
    """Keeps clicks out of the server's access log: a log line would hold the reader's
    address beside the link they clicked, which is what the counter never keeps (and
    writing it would cost a third of a click's time)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        return not (isinstance(args, tuple) and len(args) > 2
                    and str(args[2]).startswith(CLICK_PREFIX))


@asynccontextmanager
async def flushing(state: WebState) -> AsyncIterator[None]:
    """Flush once a second while the app runs, and once more when it stops; clicks stay
    out of the access log meanwhile."""
    unlogged = UnloggedClicks()
    access_log = logging.getLogger(ACCESS_LOGGER)
    access_log.addFilter(unlogged)

    async def every_second() -> None:
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            await run_in_threadpool(flush, state)

    task = asyncio.create_task(every_second())
    try:
        yield
    finally:
        task.cancel()
        access_log.removeFilter(unlogged)
        await run_in_threadpool(flush, state)
