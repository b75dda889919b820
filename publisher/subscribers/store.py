"""The subscriber store: the only writer of subscriber, event and suppression rows
(publisher.db.TABLE_OWNERS). Every status change is one transaction with its event-log row
(and its webhook event, through publisher.events), and so is each claim of a confirmation
mail (a `confirmation_sent` event), and each change of a reader's topics, tags, time zone,
name or language (`topics_changed`, `tags_changed`, `timezone_changed`, `language_changed`
with from/to in the detail, `name_changed`). A language is a BCP 47 tag here; that it is
one of the site's languages is checked where it comes in (publisher.subscribers.languages),
where the site's settings are known.

A reader enters the automations (`automations_at`, from which their steps' delays count)
when they confirm or come back themselves; someone the operator adds or imports as
confirmed enters them only when the operator asks (`welcome`): an import is not a
confirmation.

It also keeps the suppressions: the hash of an erased address (never added again), and the
hash of an address that left another tool (an imported opt-out: never added by an import or
by hand; lifted only by the person's own request on the subscribe form)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache, partial
from typing import Any
from zoneinfo import available_timezones

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from publisher import events as webhook
from publisher.config import BCP47_TAG, tag_name
from publisher.db import subscriber_events, subscriber_table, suppressions
from publisher.errors import InvalidAddress, StoreError
from publisher.subscribers.addresses import Address, normalise_address, normalise_name
from publisher.tokens import Reader, address_hash

PENDING, CONFIRMED, UNSUBSCRIBED, BOUNCED, COMPLAINED = (
    "pending", "confirmed", "unsubscribed", "bounced", "complained")
STATUSES = (PENDING, CONFIRMED, UNSUBSCRIBED, BOUNCED, COMPLAINED)
_STAMP = {CONFIRMED: "confirmed_at", UNSUBSCRIBED: "unsubscribed_at",
          BOUNCED: "bounced_at", COMPLAINED: "complained_at"}
LEFT = (UNSUBSCRIBED, BOUNCED, COMPLAINED)  # only the person undoes these, by subscribing again
ERASED = "erased"  # the suppression reason of an erased address; others are imported opt-outs


@dataclass(frozen=True)
class Consent:
    """Where a subscription came from: a form (with IP and user agent) or an import."""

    source: str
    at: datetime
    ip: str | None = None
    user_agent: str | None = None


@dataclass(frozen=True)
class Subscriber:
    id: int
    email: str
    name: str
    status: str
    tags: list[str]
    confirmation_sent_at: datetime | None
    bounce_count: int
    timezone: str | None = None  # the IANA zone the reader chose (None: the site's)
    language: str | None = None  # the BCP 47 tag the reader reads in (None: the site's)


def email_hash(address: Address) -> str:
    return address_hash(address.email)


def _row(row: Any) -> Subscriber:
    return Subscriber(int(row.id), row.email, row.name, row.status, list(row.tags or []),
                      row.confirmation_sent_at, int(row.bounce_count), row.timezone,
                      row.language)


def _log(conn: Connection, subscriber_id: int, event: str, old: str | None, new: str | None,
         now: datetime, detail: dict[str, Any] | None = None) -> None:
    conn.execute(subscriber_events.insert().values(
        subscriber_id=subscriber_id, event=event, from_status=old, to_status=new, at=now,
        detail=detail or {}))
    reported = _reported(conn, subscriber_id, event, old, new, detail or {})
    if reported is not None:
        webhook.record(conn, reported, now)


# The webhook event of each status a reader moves to (publisher.events)
_WEBHOOK_TYPES = {PENDING: webhook.SUBSCRIBED, CONFIRMED: webhook.CONFIRMED,
                  UNSUBSCRIBED: webhook.UNSUBSCRIBED, BOUNCED: webhook.BOUNCED,
                  COMPLAINED: webhook.COMPLAINED}


def _reported(conn: Connection, subscriber_id: int, event: str, old: str | None,
              new: str | None, detail: dict[str, Any]) -> webhook.Event | None:
    """The webhook event of a logged change (a status change or an erasure), if any."""
    key = webhook.subscriber_key(subscriber_id)
    if event == "erased":  # the id only: the address is gone
        return webhook.Event(webhook.ERASED, key, lambda: {"subscriber": {"id": subscriber_id}})
    if new is None or new == old or new not in _WEBHOOK_TYPES:
        return None
    return webhook.Event(_WEBHOOK_TYPES[new], key,
                        lambda: _event_data(conn, subscriber_id, detail))


def _event_data(conn: Connection, subscriber_id: int, detail: dict[str, Any]) -> dict[str, Any]:
    """A webhook body's data: who (as stored now, in the same transaction) and the detail
    (`via` of an unsubscribe, `source` of a subscription)."""
    found = get(conn, subscriber_id)
    person: dict[str, Any] = {"id": subscriber_id}
    if found is not None:
        person.update(email=found.email, name=found.name, status=found.status, tags=found.tags)
    return {"subscriber": person, **{k: v for k, v in detail.items() if isinstance(k, str)}}


def is_suppressed(conn: Connection, address: Address) -> bool:
    return suppression_reason(conn, address) is not None


def suppression_reason(conn: Connection, address: Address) -> str | None:
    """Why this address is suppressed (`erased`, or an imported opt-out's status), or None."""
    query = sa.select(suppressions.c.reason).where(
        suppressions.c.email_hash == email_hash(address))
    reason = conn.execute(query).scalar()
    return None if reason is None else str(reason)


def _suppressed_because(reason: str) -> str:
    if reason == ERASED:
        return "email: this address was erased and cannot be added"
    return (f"email: {reason} before it was imported; not changed "
            "(they must subscribe again themselves)")


def find(conn: Connection, address: Address) -> Subscriber | None:
    row = conn.execute(sa.select(subscriber_table)
                       .where(subscriber_table.c.email_key == address.key)).first()
    return _row(row) if row is not None else None


def get(conn: Connection, subscriber_id: int) -> Subscriber | None:
    row = conn.execute(sa.select(subscriber_table)
                       .where(subscriber_table.c.id == subscriber_id)).first()
    return _row(row) if row is not None else None


def token_holder(conn: Connection, reader: Reader) -> Subscriber | None:
    """The subscriber a verified unsubscribe or preferences token names; None if they are
    no longer on the list: erased, or the id is someone else's. An old token without the
    address's hash names an id only if no one with that id was ever erased (before
    migration 7 SQLite gave an erased reader's id to the next new subscriber)."""
    subscriber = get(conn, reader.id)
    if subscriber is None or not reader.made_for(subscriber.email):
        return None
    if reader.binding is None and conn.execute(sa.select(subscriber_events.c.id).where(
            subscriber_events.c.subscriber_id == reader.id,
            subscriber_events.c.event == "erased").limit(1)).first() is not None:
        return None
    return subscriber


def add(conn: Connection, raw_email: str, raw_name: str | None, status: str, consent: Consent,
        now: datetime, tags: Iterable[str] = (), *, own_request: bool = False,
        timezone: str | None = None, welcome: bool = False,
        language: str | None = None) -> tuple[Subscriber, bool]:
    """Insert or refresh a subscriber; returns (subscriber, created). Suppressed: refused.

    Someone who unsubscribed, bounced or complained is returned unchanged (`departure` says
    why) unless `own_request`: they asked again themselves, through the subscribe form, and
    become pending, to confirm again. A `timezone` and a `language` are set (with their
    events) on anyone else.
    Added as confirmed, they enter the automations only with `welcome`.
    A tag no audience could name (`config.tag_name`: spaces, parentheses) is refused.
    """
    tags = tuple(tags)
    for tag in tags:
        try:
            tag_name(tag)
        except ValueError as exc:
            raise StoreError(f"tag: {exc}") from exc
    subscriber, created = _add(conn, normalise_address(raw_email), normalise_name(raw_name),
                               status, consent, now, tags, own_request=own_request,
                               welcome=welcome)
    if timezone is not None and subscriber.status not in LEFT:
        subscriber = set_timezone(conn, subscriber.id, timezone, now) or subscriber
    if language is not None and subscriber.status not in LEFT:
        subscriber = set_language(conn, subscriber.id, language, now) or subscriber
    return subscriber, created


def _add(conn: Connection, address: Address, name: str, status: str, consent: Consent,
         now: datetime, tags: Iterable[str] = (), *, own_request: bool = False,
         welcome: bool = False) -> tuple[Subscriber, bool]:
    """`add` for an address and a name already normalised."""
    if status not in (PENDING, CONFIRMED):
        raise StoreError(f"status: new subscribers are pending or confirmed, not {status!r}")
    reason = suppression_reason(conn, address)
    if reason == ERASED:
        raise InvalidAddress("email: this address asked to be erased and cannot be added")
    if reason is not None and not own_request:
        raise InvalidAddress(_suppressed_because(reason))
    if reason is not None:  # they left another tool and now ask here themselves
        conn.execute(sa.delete(suppressions).where(
            suppressions.c.email_hash == email_hash(address)))
    existing = find(conn, address)
    if existing is not None:
        return _refresh(conn, existing, name, status, consent, now, tags, own_request,
                        welcome), False
    (new_id,) = _insert_many(conn, [NewRow(0, address, name, tuple(tags))], status, consent,
                             now, welcome)
    created = get(conn, new_id)
    assert created is not None
    return created, True


def statuses(conn: Connection, subscriber_ids: Iterable[int]) -> dict[int, str]:
    """The current status of each of these subscribers that is still stored."""
    rows = conn.execute(sa.select(subscriber_table.c.id, subscriber_table.c.status)
                        .where(subscriber_table.c.id.in_(list(subscriber_ids)))).all()
    return {int(i): str(s) for i, s in rows}


def languages(conn: Connection, subscriber_ids: Iterable[int]) -> dict[int, str | None]:
    """The language of each of these subscribers that is still stored (None: the site's)."""
    rows = conn.execute(sa.select(subscriber_table.c.id, subscriber_table.c.language)
                        .where(subscriber_table.c.id.in_(list(subscriber_ids)))).all()
    return {int(i): None if lang is None else str(lang) for i, lang in rows}


@dataclass(frozen=True)
class Choice:
    """What a reader picked on the subscribe form: topics among `declared`, a zone and a
    language (one of the site's)."""

    topics: tuple[str, ...] = ()
    declared: frozenset[str] = frozenset()
    timezone: str | None = None
    language: str | None = None


def request_subscription(engine: Engine, address: Address, name: str, consent: Consent,
                         now: datetime, choice: Choice | None = None) -> Subscriber:
    """The person's own request (the subscribe form): `add` them as pending, in a
    transaction of its own, taken again once if a concurrent request for the same address
    inserted it first. An erased address raises InvalidAddress. The `choice` of topics, zone
    and language is stored only on a pending subscriber: a confirmed one changes theirs on
    the preferences page, which their own link opens."""
    try:
        with engine.begin() as conn:
            return _request(conn, address, name, consent, now, choice)
    except sa.exc.IntegrityError:  # the other request's row is there now: refresh it
        with engine.begin() as conn:
            return _request(conn, address, name, consent, now, choice)


def _request(conn: Connection, address: Address, name: str, consent: Consent, now: datetime,
             choice: Choice | None) -> Subscriber:
    subscriber = _add(conn, address, name, PENDING, consent, now, own_request=True)[0]
    if choice is None or subscriber.status != PENDING:
        return subscriber
    set_topics(conn, subscriber.id, choice.topics, choice.declared, now)
    set_language(conn, subscriber.id, choice.language, now)
    return set_timezone(conn, subscriber.id, choice.timezone, now) or subscriber


ZONE_AREAS = ("Africa", "America", "Antarctica", "Arctic", "Asia", "Atlantic", "Australia",
              "Europe", "Indian", "Pacific")


@cache
def zone_names() -> tuple[str, ...]:
    """The IANA zones a reader may choose, sorted: Area/Place names (no legacy aliases such
    as US/Eastern), and UTC."""
    return tuple(sorted(zone for zone in available_timezones()
                        if zone.split("/", 1)[0] in ZONE_AREAS and "/" in zone)) + ("UTC",)


def set_topics(conn: Connection, subscriber_id: int, chosen: Iterable[str],
               declared: Iterable[str], now: datetime) -> Subscriber | None:
    """Make the subscriber's topics (their tags among `declared`) exactly `chosen` ∩
    `declared`, keeping every other tag (imported ones); a change is a `topics_changed`
    event. None if there is no such id."""
    current = get(conn, subscriber_id)
    if current is None:
        return None
    offered = set(declared)
    before = sorted(set(current.tags) & offered)
    after = sorted(set(chosen) & offered)
    if after == before:
        return current
    tags = sorted((set(current.tags) - offered) | set(after))
    conn.execute(subscriber_table.update().where(subscriber_table.c.id == subscriber_id)
                 .values(tags=tags, updated_at=now))
    _log(conn, subscriber_id, "topics_changed", None, None, now, {"from": before, "to": after})
    return get(conn, subscriber_id)


def _change(conn: Connection, subscriber_id: int, column: str, value: Any, event: str,
            now: datetime, logged: bool = True) -> Subscriber | None:
    """Set one column of a subscriber when it differs, logging `event` (with from/to when
    `logged`); the subscriber after, None if there is no such id."""
    current = get(conn, subscriber_id)
    if current is None:
        return None
    before = getattr(current, column)
    if isinstance(before, list):
        before = sorted(before)  # tags: a set, kept sorted
    if before == value:
        return current
    conn.execute(subscriber_table.update().where(subscriber_table.c.id == subscriber_id)
                 .values({column: value, "updated_at": now}))
    detail = {"from": before, "to": value} if logged else None
    _log(conn, subscriber_id, event, None, None, now, detail)
    return get(conn, subscriber_id)


def set_timezone(conn: Connection, subscriber_id: int, zone: str | None,
                 now: datetime) -> Subscriber | None:
    """Set (or with None, clear) the subscriber's time zone, one of `zone_names()`; a
    change is a `timezone_changed` event. None if there is no such id."""
    if zone is not None and zone not in zone_names():
        raise StoreError(f"timezone: {zone!r} is not a known IANA time zone (e.g. Europe/Berlin)")
    return _change(conn, subscriber_id, "timezone", zone, "timezone_changed", now)


def set_language(conn: Connection, subscriber_id: int, language: str | None,
                 now: datetime) -> Subscriber | None:
    """Set (or with None, clear: the site's) the subscriber's language, a BCP 47 tag; a
    change is a `language_changed` event. None if there is no such id."""
    if language is not None and not BCP47_TAG.match(language):
        raise StoreError(f"language: {language!r} is not a BCP 47 language tag (e.g. en, zh-CN)")
    return _change(conn, subscriber_id, "language", language, "language_changed", now)


def set_name(conn: Connection, subscriber_id: int, raw_name: str,
             now: datetime) -> Subscriber | None:
    """Set the subscriber's display name (normalised; InvalidAddress if refused); a change
    is a `name_changed` event (the names are not logged). None if there is no such id."""
    return _change(conn, subscriber_id, "name", normalise_name(raw_name), "name_changed", now,
                   logged=False)


def set_tags(conn: Connection, subscriber_id: int, tags: Iterable[str],
             now: datetime) -> Subscriber | None:
    """Make the subscriber's tags exactly `tags` (each one an audience could name, else
    StoreError); a change is a `tags_changed` event. None if there is no such id."""
    wanted = sorted(set(tags))
    for tag in wanted:
        try:
            tag_name(tag)
        except ValueError as exc:
            raise StoreError(f"tags: {exc}") from exc
    return _change(conn, subscriber_id, "tags", wanted, "tags_changed", now)


def claim_confirmation_mail(conn: Connection, subscriber_id: int, now: datetime,
                            resend_after: timedelta) -> bool:
    """Atomically take the right to mail this subscriber their confirmation link: at most
    one mail per `resend_after`. A claim is logged as a `confirmation_sent` event."""
    c = subscriber_table.c
    claimed = conn.execute(subscriber_table.update().where(
        c.id == subscriber_id,
        sa.or_(c.confirmation_sent_at.is_(None), c.confirmation_sent_at < now - resend_after))
        .values(confirmation_sent_at=now)).rowcount == 1
    if claimed:
        _log(conn, subscriber_id, "confirmation_sent", None, None, now)
    return claimed


def departure(conn: Connection, subscriber_id: int) -> str | None:
    """Why an import or add leaves this subscriber as they are, or None if it does not."""
    row = conn.execute(sa.select(subscriber_table)
                       .where(subscriber_table.c.id == subscriber_id)).first()
    if row is None or row.status not in LEFT:
        return None
    when = getattr(row, _STAMP[row.status])
    on = f" on {when:%Y-%m-%d}" if when is not None else ""
    return f"{row.status}{on}; not changed (they must subscribe again themselves)"


@dataclass(frozen=True)
class NewRow:
    """One validated row for a bulk add. `status`, `consent` and `restored` (the columns
    created_at, confirmed_at, unsubscribed_at, bounced_at, complained_at, bounce_count) come
    from an export and, for a new subscriber, take the place of the batch's; `evidence`
    (another tool's opt-in and confirmation times and IPs) goes into its `created` event.
    A `language` (one of the site's, checked by the reader of the file) is set on a new
    subscriber and on a known one who has not left."""

    line: int
    address: Address
    name: str
    tags: tuple[str, ...]
    status: str | None = None
    consent: Consent | None = None
    restored: Mapping[str, datetime | int] = field(default_factory=dict)
    evidence: Mapping[str, str] = field(default_factory=dict)
    language: str | None = None


@dataclass
class Added:
    """What a bulk add did: counts, and (line, reason) for rows skipped or rejected."""

    added: int = 0
    refreshed: int = 0
    skipped: list[tuple[int, str]] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)


def add_many(conn: Connection, rows: list[NewRow], status: str, consent: Consent,
             now: datetime, welcome: bool = False) -> Added:
    """Bulk add of validated rows, as `add` would one by one (never undoing an opt-out,
    a bounce or a complaint: those rows are skipped, with the reason; entering the
    automations only with `welcome`).

    Three queries and two multi-row inserts per batch instead of several queries a row.
    """
    keys = [row.address.key for row in rows]
    existing = set(conn.execute(sa.select(subscriber_table.c.email_key)
                                .where(subscriber_table.c.email_key.in_(keys))).scalars())
    hashes = {email_hash(row.address) for row in rows}
    blocked = {str(h): str(r) for h, r in conn.execute(
        sa.select(suppressions.c.email_hash, suppressions.c.reason)
        .where(suppressions.c.email_hash.in_(hashes))).all()}
    fresh: dict[str, NewRow] = {}
    known: list[NewRow] = []
    result = Added()
    for row in rows:
        reason = blocked.get(email_hash(row.address))
        if reason == ERASED:
            result.rejected.append((row.line, _suppressed_because(reason)))
        elif reason is not None:
            result.skipped.append((row.line, _suppressed_because(reason)))
        elif row.address.key in existing or row.address.key in fresh:
            known.append(row)
        else:
            fresh[row.address.key] = row
    if fresh:
        _insert_many(conn, list(fresh.values()), status, consent, now, welcome)
    result.added = len(fresh)
    for row in known:  # after the insert, so a repeat within the batch refreshes its twin
        current = find(conn, row.address)
        assert current is not None
        reason = departure(conn, current.id) if current.status in LEFT else None
        if reason is not None:
            result.skipped.append((row.line, f"email: {reason}"))
            continue
        _refresh(conn, current, row.name, row.status or status, row.consent or consent, now,
                 row.tags, welcome=welcome)
        if row.language is not None:
            set_language(conn, current.id, row.language, now)
        result.refreshed += 1
    return result


def _insert_many(conn: Connection, rows: list[NewRow], status: str, consent: Consent,
                 now: datetime, welcome: bool = False) -> list[int]:
    """Insert new subscribers with a `created` event each; returns their ids in order."""
    values = [_new_values(row, status, consent, now, welcome) for row in rows]
    ids = [int(i) for i in conn.execute(
        subscriber_table.insert().returning(subscriber_table.c.id, sort_by_parameter_order=True),
        values).scalars().all()]
    conn.execute(subscriber_events.insert(), [
        dict(subscriber_id=new_id, event="created", from_status=None, to_status=value["status"],
             at=now, detail={"source": value["consent_source"], **row.evidence})
        for new_id, value, row in zip(ids, values, rows, strict=True)])
    webhook.record_many(conn, [
        webhook.Event(_WEBHOOK_TYPES[value["status"]], webhook.subscriber_key(new_id),
                     partial(_new_data, new_id, value))
        for new_id, value in zip(ids, values, strict=True)], now)
    return ids


def _new_data(subscriber_id: int, value: dict[str, Any]) -> dict[str, Any]:
    """A new reader's webhook data, from the values just inserted (no query a row)."""
    return {"subscriber": {"id": subscriber_id, "email": value["email"], "name": value["name"],
                           "status": value["status"], "tags": value["tags"]},
            "source": value["consent_source"]}


def _new_values(row: NewRow, status: str, consent: Consent, now: datetime,
                welcome: bool = False) -> dict[str, Any]:
    """A new row's columns: the batch's status and consent unless the row brings its own."""
    status = row.status or status
    consent = row.consent or consent
    values: dict[str, Any] = dict(
        email=row.address.email, email_key=row.address.key, name=row.name, status=status,
        tags=sorted(set(row.tags)), created_at=now, updated_at=now, consent_at=consent.at,
        consent_source=consent.source[:64], consent_ip=(consent.ip or "")[:64] or None,
        consent_user_agent=(consent.user_agent or "")[:512] or None, bounce_count=0,
        language=row.language, **{stamp: None for stamp in _STAMP.values()})
    values.update(row.restored)
    if status in _STAMP and values[_STAMP[status]] is None:
        values[_STAMP[status]] = now
    values["automations_at"] = now if status == CONFIRMED and welcome else None
    return values


def _refresh(conn: Connection, existing: Subscriber, name: str, status: str, consent: Consent,
             now: datetime, tags: Iterable[str], own_request: bool = False,
             welcome: bool = False) -> Subscriber:
    """A known address is added again: a confirmed one keeps its status, a pending one takes
    `status` and the new consent; one who left is changed only by `own_request`, and then
    becomes pending, with a fresh resend window for its confirmation mail. With `welcome`,
    a confirmed one not yet in the automations enters them now."""
    if existing.status in LEFT and not own_request:
        return existing
    updates: dict[str, Any] = {"updated_at": now}
    if name:
        updates["name"] = name
    merged = sorted(set(existing.tags) | set(tags))
    if merged != existing.tags:
        updates["tags"] = merged
    target = PENDING if existing.status in LEFT else status
    if existing.status != CONFIRMED and target in (PENDING, CONFIRMED):
        updates.update(status=target, consent_at=consent.at, consent_source=consent.source[:64],
                       consent_ip=(consent.ip or "")[:64] or None,
                       consent_user_agent=(consent.user_agent or "")[:512] or None)
        if target == CONFIRMED:
            updates["confirmed_at"] = now
            if welcome:
                updates["automations_at"] = now
        if target == PENDING:  # a new pending episode: an older mail must not hold back its own
            updates["confirmation_sent_at"] = sa.case(  # read in the UPDATE: safe when racing
                (subscriber_table.c.status == PENDING, subscriber_table.c.confirmation_sent_at),
                else_=sa.null())
        if target != existing.status:
            _log(conn, existing.id, "resubscribed", existing.status, target, now,
                 {"source": consent.source})
    elif existing.status == CONFIRMED and welcome:
        updates["automations_at"] = sa.func.coalesce(subscriber_table.c.automations_at, now)
    conn.execute(subscriber_table.update().where(subscriber_table.c.id == existing.id)
                 .values(**updates))
    refreshed = get(conn, existing.id)
    assert refreshed is not None
    return refreshed


@dataclass
class Departed:
    """What recording opt-outs did: rows moved to the status they left with, suppressions
    added for addresses not stored here, and rows already left or suppressed."""

    moved: int = 0
    suppressed: int = 0
    unchanged: int = 0


def record_departures(conn: Connection, rows: list[NewRow], now: datetime,
                      source: str) -> Departed:
    """Opt-outs from another tool (each row's `status` is unsubscribed, bounced or
    complained): a pending or confirmed subscriber here leaves with that status (its event
    names `source`); an address not stored here becomes a suppression, never a subscriber.
    Idempotent: one who left already, or a suppressed address, is unchanged."""
    result = Departed()
    for row in rows:
        assert row.status in LEFT, row.status
        current = find(conn, row.address)
        if current is not None and current.status not in LEFT:
            set_status(conn, current.id, row.status, now, row.status, {"via": source})
            result.moved += 1
        elif current is None and suppression_reason(conn, row.address) is None:
            conn.execute(suppressions.insert().values(
                email_hash=email_hash(row.address), reason=row.status, created_at=now))
            result.suppressed += 1
        else:
            result.unchanged += 1
    return result


def set_status(conn: Connection, subscriber_id: int, status: str, now: datetime,
               event: str, detail: dict[str, Any] | None = None) -> Subscriber | None:
    """Move a subscriber to `status` (idempotent) and log it; None if there is no such id."""
    current = get(conn, subscriber_id)
    if current is None:
        return None
    if current.status == status:
        return current
    values: dict[str, Any] = {"status": status, "updated_at": now}
    if status in _STAMP:
        values[_STAMP[status]] = now
    if status == CONFIRMED:  # the person's own confirmation (or return) starts their steps
        values["automations_at"] = now
    conn.execute(subscriber_table.update().where(subscriber_table.c.id == subscriber_id)
                 .values(**values))
    _log(conn, subscriber_id, event, current.status, status, now, detail)
    return get(conn, subscriber_id)


def confirm(conn: Connection, subscriber_id: int, now: datetime) -> Subscriber | None:
    current = get(conn, subscriber_id)
    if current is None or current.status not in (PENDING, CONFIRMED):
        return current
    return set_status(conn, subscriber_id, CONFIRMED, now, "confirmed")


def resubscribe(conn: Connection, subscriber_id: int, now: datetime,
                via: str) -> Subscriber | None:
    """Confirmed again at the person's own request (their link proves the mailbox), logged
    as `resubscribed` with `via` (confirmation link, preferences)."""
    return set_status(conn, subscriber_id, CONFIRMED, now, "resubscribed", {"via": via})


def unsubscribe(conn: Connection, subscriber_id: int, now: datetime,
                how: str = "link") -> Subscriber | None:
    return set_status(conn, subscriber_id, UNSUBSCRIBED, now, "unsubscribed", {"via": how})


def mark_bounced(conn: Connection, subscriber_id: int, now: datetime,
                 detail: dict[str, Any] | None = None) -> Subscriber | None:
    return set_status(conn, subscriber_id, BOUNCED, now, "bounced", detail)


def mark_complained(conn: Connection, subscriber_id: int, now: datetime,
                    detail: dict[str, Any] | None = None) -> Subscriber | None:
    return set_status(conn, subscriber_id, COMPLAINED, now, "complained", detail)


def count_hard_bounces(conn: Connection, subscriber_ids: Iterable[int], threshold: int,
                       now: datetime, detail: dict[str, Any] | None = None) -> list[int]:
    """The one rule for hard bounces, at send time (a 5xx reply) and later (a DSN): count
    one against each subscriber, and make those at `threshold` `bounced`; returns them."""
    ids = sorted(set(subscriber_ids))
    if not ids:
        return []
    conn.execute(subscriber_table.update().where(subscriber_table.c.id.in_(ids))
                 .values(bounce_count=subscriber_table.c.bounce_count + 1, updated_at=now))
    reached = conn.execute(sa.select(subscriber_table.c.id).where(
        subscriber_table.c.id.in_(ids), subscriber_table.c.bounce_count >= threshold,
        subscriber_table.c.status.in_([PENDING, CONFIRMED]))).scalars().all()
    for subscriber_id in reached:
        mark_bounced(conn, int(subscriber_id), now, detail)
    return [int(i) for i in reached]


def erase(conn: Connection, address: Address, now: datetime) -> bool:
    """Delete the person from the subscriber data, keeping only a hash so the address is
    never re-added: the subscriber row (with its consent record) and the details of their
    events. What stays names nobody: the events' kinds and times. Their deliveries belong
    to the outbox and the unverified reports naming them to publisher.sending.returned_mail:
    publisher.sending.erasure does all three."""
    existing = find(conn, address)
    conn.execute(sa.delete(suppressions).where(suppressions.c.email_hash == email_hash(address)))
    conn.execute(suppressions.insert().values(email_hash=email_hash(address), reason=ERASED,
                                              created_at=now))
    if existing is None:
        return False
    conn.execute(sa.delete(subscriber_table).where(subscriber_table.c.id == existing.id))
    conn.execute(subscriber_events.update().where(subscriber_events.c.subscriber_id == existing.id)
                 .values(detail={}))
    webhook.forget_subscriber(conn, existing.id)
    _log(conn, existing.id, "erased", existing.status, None, now)
    return True


def stats(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(subscriber_table.c.status, sa.func.count())
                            .group_by(subscriber_table.c.status)).all()
    found = {str(s): int(n) for s, n in rows}
    return {status: found.get(status, 0) for status in STATUSES}


def iter_all(engine: Engine, status: str | None = None, chunk: int = 1000) -> Iterator[Any]:
    """Every subscriber row, streamed in id order (for list and export)."""
    last = 0
    while True:
        query = sa.select(subscriber_table).where(subscriber_table.c.id > last)
        if status:
            query = query.where(subscriber_table.c.status == status)
        with engine.connect() as conn:
            rows = conn.execute(query.order_by(subscriber_table.c.id).limit(chunk)).all()
        if not rows:
            return
        yield from rows
        last = int(rows[-1].id)


def events(conn: Connection, subscriber_id: int) -> list[tuple[str, str | None, str | None]]:
    rows = conn.execute(sa.select(subscriber_events.c.event, subscriber_events.c.from_status,
                                  subscriber_events.c.to_status)
                        .where(subscriber_events.c.subscriber_id == subscriber_id)
                        .order_by(subscriber_events.c.id)).all()
    return [(str(e), f, t) for e, f, t in rows]
