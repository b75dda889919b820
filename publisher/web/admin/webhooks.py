"""The console's webhooks page: each endpoint's deliveries and the latest failures, and a
replay of the events since a moment.

Rule: it shows what `publisher webhooks status` prints, from the same functions
(publisher.sending.webhooks), and a replay adds rows through that module as the CLI verb
does; delivery stays `publisher run`'s. The replay is a plain POST form with the session's
CSRF token, answered by a redirect (Post/Redirect/Get) whose notice says how many.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from publisher.i18n import N_
from publisher.sending import webhooks
from publisher.web.admin.console import PREFIX, Console, Operator, action, page, see
from publisher.web.admin.sends import duration_label

PATH = PREFIX + "/webhooks"
FAILURES_SHOWN = 20
DEFAULT_SINCE = "1h"
REPLAY_REFUSALS = {
    "bad_since": N_("Nothing replayed: give an age such as 2h or an ISO time with its zone."),
    "bad_url": N_("Nothing replayed: that endpoint is not in publisher.toml."),
}


def routes(console: Console) -> list[BaseRoute]:
    h = _Handlers(console)
    return [Route(PATH, page(console, h.webhooks_page), methods=["GET"]),
            Route(PATH + "/replay", action(console, h.replay), methods=["POST"])]


def endpoint_view(console: Console, endpoint: webhooks.EndpointStatus,
                  events: list[str] | None) -> dict[str, Any]:
    """One endpoint as the page shows it; `events` None: no longer in publisher.toml."""
    return {"url": endpoint.url, "events": events, "delivered": endpoint.delivered,
            "pending": endpoint.pending, "failed": endpoint.failed,
            "oldest": duration_label(endpoint.oldest_undelivered_seconds
                                     if endpoint.pending else None, console.state.translator),
            "last_failure": endpoint.last_failure}


def page_notice(console: Console, request: Request) -> str:
    """The line a replay leaves: how many deliveries it queued, or why it queued none."""
    query = request.query_params
    if query.get("notice") == "replayed":
        count = query.get("n", "0")
        n = int(count) if count.isascii() and count.isdigit() and len(count) < 20 else 0
        return console.ngettext(
            "{n} delivery is queued again; the daemon delivers it.",
            "{n} deliveries are queued again; the daemon delivers them.", n)
    if query.get("notice") in REPLAY_REFUSALS:
        return console.gettext(REPLAY_REFUSALS[query["notice"]])
    return ""


class _Handlers:
    def __init__(self, console: Console) -> None:
        self.console = console

    async def webhooks_page(self, request: Request, operator: Operator) -> Response:
        console = self.console
        configured = {w.url: w.events for w in console.config.settings.webhooks}
        found = webhooks.status(console.engine, list(configured), console.clock())
        return console.render(
            "webhooks.html.j2", operator,
            endpoints=[endpoint_view(console, e, configured.get(e.url)) for e in found],
            failures=webhooks.recent_failures(console.engine, FAILURES_SHOWN),
            configured=list(configured), since=DEFAULT_SINCE,
            notice=page_notice(console, request))

    async def replay(self, request: Request, operator: Operator) -> Response:
        console = self.console
        form = request.state.form
        configured = console.config.settings.webhooks
        url = form.get("url") or None
        now = console.clock()
        try:
            moment = webhooks.since_moment(form.get("since", "")[:40], now)
        except ValueError:
            return see(f"{PATH}?notice=bad_since")
        if url is not None and url not in {w.url for w in configured}:
            return see(f"{PATH}?notice=bad_url")
        count = webhooks.replay(console.engine, moment, now, url, configured)
        return see(f"{PATH}?" + urlencode({"notice": "replayed", "n": count}))
