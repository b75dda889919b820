"""/api/v1/subscribers: create, read, list, update, unsubscribe and erase readers.

A pending create is the subscribe form's request (publisher.web.subscribe.ask_to_subscribe:
the same confirmation mail through the one-off outbox, the same per-address limit); a create
with `consent` adds the reader as confirmed with no mail, the consent stored on the row and
in their `created` event. Either answers 202 with the same body whoever the address is, in
the same time (held to the form's STEADY_ANSWER_SECONDS). An
unsubscribe is reported to webhooks with `via: api`; an erase does what `publisher
subscribers erase` does (publisher.sending.erasure). Topics and zones are checked as the
preferences page checks them (publisher.web.choices).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import re

from sqlalchemy.engine import Connection

from publisher.errors import StoreError
from publisher.sending.erasure import erase_person
from publisher.subscribers import directory, store
from publisher.subscribers.addresses import RejectedInput, normalise_address, normalise_name
from publisher.web import choices
from publisher.web.api.models import Subscriber as SubscriberModel
from publisher.web.api.models import (
    SubscriberCreate,
    SubscriberPage,
    SubscriberQuery,
    SubscriberUpdate,
    SubscriptionAccepted,
)
from publisher.web.api.operations import MAX_ID, Call, Operation, field_refused
from publisher.web.errors import NotFound
from publisher.web.state import WebState
from publisher.web.subscribe import STEADY_ANSWER_SECONDS, ask_to_subscribe

READ, WRITE = "subscribers:read", "subscribers:write"
_CURSOR = re.compile(r"v1:([0-9]{1,10})")


def _model(state: WebState, reader: directory.Reader) -> SubscriberModel:
    offered = choices.declared(state.config)
    return SubscriberModel(
        id=reader.id, email=reader.email, name=reader.name, status=reader.status,  # type: ignore[arg-type]
        tags=reader.tags, topics=[tag for tag in reader.tags if tag in offered],
        timezone=reader.timezone, created_at=reader.created_at, updated_at=reader.updated_at,
        confirmed_at=reader.confirmed_at, unsubscribed_at=reader.unsubscribed_at,
        consent_source=reader.consent_source, language=reader.language)


def _found(state: WebState, conn: Connection, subscriber_id: int) -> SubscriberModel:
    reader = directory.reader(conn, subscriber_id)
    if reader is None:
        raise NotFound()
    return _model(state, reader)


def cursor_of(subscriber_id: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{subscriber_id}".encode()).decode().rstrip("=")


def after_cursor(cursor: str | None) -> int:
    """The id a cursor continues after; 422 for one we did not make."""
    if not cursor:
        return 0
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, ValueError) as exc:
        raise field_refused("cursor", "not a cursor this API made") from exc
    match = _CURSOR.fullmatch(text)
    if match is None or int(match.group(1)) > MAX_ID:
        raise field_refused("cursor", "not a cursor this API made")
    return int(match.group(1))


def _choice(state: WebState, topics: list[str] | None, zone: str | None,
            language: str | None = None) -> store.Choice:
    try:
        return choices.choice_from(state.config, topics or [], zone or "", language or "")
    except RejectedInput as problem:
        raise field_refused(problem.field, str(problem)) from problem


async def create(call: Call) -> SubscriptionAccepted:
    """Held to STEADY_ANSWER_SECONDS, as the form's answer: new or known, it takes as long."""
    loop = asyncio.get_running_loop()
    steady = loop.time() + STEADY_ANSWER_SECONDS
    accepted = _create(call)
    await asyncio.sleep(max(0.0, steady - loop.time()))
    return accepted


def _create(call: Call) -> SubscriptionAccepted:
    body: SubscriberCreate = call.body
    state, now = call.state, call.state.clock()
    try:
        address = normalise_address(body.email)
        name = normalise_name(body.name)
    except RejectedInput as problem:
        raise field_refused(problem.field, str(problem)) from problem
    choice = _choice(state, body.topics, body.timezone, body.language)
    if body.consent is None:
        client = call.request.client.host if call.request.client else None
        consent = store.Consent(f"api:{call.token.name}"[:64], now, client,
                                call.request.headers.get("user-agent"))
        ask_to_subscribe(state, address, name, consent, choice)
        return SubscriptionAccepted(email=address.email, requested="pending")
    given = body.consent
    ip = str(given.ip) if given.ip is not None else None
    evidence = {"consent_at": given.at.isoformat(), "consent_ip": ip or "",
                "via": f"api:{call.token.name}"}
    with state.engine.begin() as conn:
        added = store.add_many(conn, [store.NewRow(0, address, name, (), evidence=evidence)],
                               store.CONFIRMED, store.Consent(given.source, given.at, ip), now,
                               welcome=body.welcome)
        new = store.find(conn, address) if added.added else None
        if new is not None:
            store.set_topics(conn, new.id, choice.topics, choice.declared, now)
            store.set_timezone(conn, new.id, choice.timezone, now)
            store.set_language(conn, new.id, choice.language, now)
    return SubscriptionAccepted(email=address.email, requested="confirmed")


async def one(call: Call) -> SubscriberModel:
    with call.state.engine.connect() as conn:
        return _found(call.state, conn, call.id)


async def listed(call: Call) -> SubscriberPage:
    query: SubscriberQuery = call.query
    email_key = None
    if query.email is not None:
        try:
            email_key = normalise_address(query.email).key
        except RejectedInput as problem:
            raise field_refused("email", str(problem)) from problem
    filters = directory.Filters(query.status, query.tag, email_key, query.changed_since)
    with call.state.engine.connect() as conn:
        readers = directory.page(conn, after_cursor(query.cursor), query.limit + 1, filters)
    more = len(readers) > query.limit
    readers = readers[:query.limit]
    return SubscriberPage(items=[_model(call.state, r) for r in readers],
                          next_cursor=cursor_of(readers[-1].id) if more else None)


async def update(call: Call) -> SubscriberModel:
    body: SubscriberUpdate = call.body
    state, now, given = call.state, call.state.clock(), body.model_fields_set
    choice = _choice(state, body.topics, body.timezone, body.language)
    try:
        with state.engine.begin() as conn:
            if store.get(conn, call.id) is None:
                raise NotFound()
            if body.name is not None:
                store.set_name(conn, call.id, body.name, now)
            if body.tags is not None:
                store.set_tags(conn, call.id, body.tags, now)
            if body.topics is not None:
                store.set_topics(conn, call.id, choice.topics, choice.declared, now)
            if "timezone" in given:
                store.set_timezone(conn, call.id, choice.timezone, now)
            if "language" in given:
                store.set_language(conn, call.id, choice.language, now)
            return _found(state, conn, call.id)
    except RejectedInput as problem:
        raise field_refused(problem.field, str(problem)) from problem
    except StoreError as problem:
        raise field_refused("tags", str(problem)) from problem


async def unsubscribe(call: Call) -> SubscriberModel:
    with call.state.engine.begin() as conn:
        if store.unsubscribe(conn, call.id, call.state.clock(), how="api") is None:
            raise NotFound()
        return _found(call.state, conn, call.id)


async def erase(call: Call) -> None:
    with call.state.engine.begin() as conn:
        found = store.get(conn, call.id)
        if found is None:
            raise NotFound()
        erase_person(conn, normalise_address(found.email), call.state.clock())


OPERATIONS = [
    Operation("POST", "/subscribers", "createSubscriber",
              "Add a reader: pending with a confirmation mail, or confirmed with consent",
              WRITE, create, SubscriptionAccepted, status=202, body=SubscriberCreate),
    Operation("GET", "/subscribers", "listSubscribers",
              "Readers in id order, a page at a time, filtered", READ, listed, SubscriberPage,
              query=SubscriberQuery),
    Operation("GET", "/subscribers/{id}", "getSubscriber", "One reader", READ, one,
              SubscriberModel),
    Operation("PATCH", "/subscribers/{id}", "updateSubscriber",
              "Change a reader's name, tags, topics or time zone", WRITE, update,
              SubscriberModel, body=SubscriberUpdate),
    Operation("POST", "/subscribers/{id}/unsubscribe", "unsubscribeSubscriber",
              "Unsubscribe a reader (webhooks say via: api)", WRITE, unsubscribe,
              SubscriberModel),
    Operation("DELETE", "/subscribers/{id}", "eraseSubscriber",
              "Erase a reader as `publisher subscribers erase` does", WRITE, erase, None,
              status=204),
]
