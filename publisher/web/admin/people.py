"""The console's subscribers: search, one person's record, unsubscribe and erase.

Rule: reading goes through publisher.subscribers.activity; changes go through the store
(unsubscribe, with its event row) and publisher.sending.erasure (erase, which also blanks
the person's deliveries), each in one transaction. Erase asks first on a page of its own;
after it the person's page is gone (404).
"""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from publisher.i18n import N_
from publisher.sending import reports
from publisher.sending.erasure import erase_person
from publisher.subscribers import activity, store
from publisher.subscribers.activity import Person
from publisher.subscribers.addresses import normalise_address
from publisher.web.admin.console import (
    PREFIX,
    Console,
    Operator,
    action,
    keyset_after,
    page,
    path_id,
    see,
)
from publisher.web.errors import NotFound

PAGE_SIZE = 50
NOTICES = {
    "unsubscribed": N_("Unsubscribed: no further issue will be sent to this address."),
    "erased": N_("Erased: only a hash of the address is kept, so it is never added again."),
    "unchanged": N_("Nothing changed: the state had already moved on."),
}


def routes(console: Console) -> list[BaseRoute]:
    h = _Handlers(console)
    one = PREFIX + "/subscribers/{subscriber_id:int}"
    return [
        Route(PREFIX + "/subscribers", page(console, h.search_page), methods=["GET"]),
        Route(one, page(console, h.person_page), methods=["GET"]),
        Route(one + "/unsubscribe", action(console, h.unsubscribe), methods=["POST"]),
        Route(one + "/erase", page(console, h.erase_page), methods=["GET"]),
        Route(one + "/erase", action(console, h.erase), methods=["POST"]),
    ]


def _notice(console: Console, request: Request) -> str:
    key = request.query_params.get("notice", "")
    return console.gettext(NOTICES[key]) if key in NOTICES else ""


class _Handlers:
    def __init__(self, console: Console) -> None:
        self.console = console

    def _person(self, request: Request) -> Person:
        found = activity.person(self.console.engine, path_id(request, "subscriber_id"))
        if found is None:
            raise NotFound()
        return found

    async def search_page(self, request: Request, operator: Operator) -> Response:
        console = self.console
        query = request.query_params.get("q", "").strip()[:254]
        status = request.query_params.get("status", "")
        status = status if status in store.STATUSES else ""
        rows = activity.search(console.engine, query, status, keyset_after(request),
                               PAGE_SIZE + 1)
        next_page = (f"{request.url.path}?" + urlencode(
            {"q": query, "status": status, "after": rows[PAGE_SIZE - 1].id})
            if len(rows) > PAGE_SIZE else "")
        return console.render("subscribers.html.j2", operator, rows=rows[:PAGE_SIZE],
                              query=query, status=status, statuses=store.STATUSES,
                              next_page=next_page, totals=activity.totals(console.engine),
                              notice=_notice(console, request))

    async def person_page(self, request: Request, operator: Operator) -> Response:
        console = self.console
        person = self._person(request)
        deliveries = reports.subscriber_deliveries(console.engine, person.subscriber.id)
        return console.render("person.html.j2", operator, person=person,
                              deliveries=deliveries, notice=_notice(console, request),
                              can_unsubscribe=person.subscriber.status in (store.PENDING,
                                                                           store.CONFIRMED))

    async def unsubscribe(self, request: Request, operator: Operator) -> Response:
        person = self._person(request)
        with self.console.engine.begin() as conn:
            before = store.get(conn, person.subscriber.id)
            store.unsubscribe(conn, person.subscriber.id, self.console.clock(), how="operator")
        changed = before is not None and before.status != store.UNSUBSCRIBED
        return see(f"{PREFIX}/subscribers/{person.subscriber.id}?notice="
                   + ("unsubscribed" if changed else "unchanged"))

    async def erase_page(self, request: Request, operator: Operator) -> Response:
        console = self.console
        person = self._person(request)
        where = f"{PREFIX}/subscribers/{person.subscriber.id}"
        return console.render(
            "confirm.html.j2", operator, heading=console.gettext("Erase this person?"),
            text=console.gettext(
                "{email}: their record, consent and history details are deleted and their "
                "deliveries blanked; only a hash stays so the address is never added again. "
                "This cannot be undone.", email=person.subscriber.email),
            action=where + "/erase", button=console.gettext("Erase…"), back=where,
            back_label=console.gettext("Keep them"))

    async def erase(self, request: Request, operator: Operator) -> Response:
        person = self._person(request)
        address = normalise_address(person.subscriber.email)
        with self.console.engine.begin() as conn:
            erase_person(conn, address, self.console.clock())
        return see(PREFIX + "/subscribers?notice=erased")
