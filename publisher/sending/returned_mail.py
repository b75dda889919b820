"""Applying returned mail: bounces, complaints and unsubscribe mails read from a Maildir
(publisher.mail.returned understands them) become changes to deliveries (through the
outbox), to subscribers (through the store) and rows of `bounce_reports`, whose only
writer this module is (publisher.db.TABLE_OWNERS).

Anyone can mail the bounce address, so a report changes somebody only on evidence a
stranger cannot forge: its VERP address (HMAC-signed) or the returned original's
Message-ID (an AES block under our key that names the send and the subscriber). A report
that matches only by address is recorded in `bounce_reports` and listed for the operator;
it changes nobody. Each recipient group of a DSN is its own result. Hard bounces count
against the subscriber by the store's one rule (`bounced` at the threshold); complaints
make them `complained` at once. Messages that cannot be understood stay in `new/` and are
reported, never deleted; the others move to `cur/` only after their transaction committed.
"""

from __future__ import annotations

import mailbox
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from publisher.db import bounce_reports, deliveries, sends
from publisher.errors import BadToken
from publisher.mail.message_ids import MessageIds, verified
from publisher.mail.returned import Report, parse_report, recipient_key, unsubscribe_request
from publisher.outage import RetryPolicy, retry
from publisher.sending import outbox
from publisher.subscribers import store
from publisher.tokens import Purpose, TokenSigner, reader_from

BOUNCE_SPOOL = "var/bounces"  # where reports fetched over IMAP are copied (a Maildir)


@dataclass
class Outcome:
    processed: int = 0
    kinds: dict[str, int] = field(default_factory=lambda: {"hard": 0, "soft": 0,
                                                           "complaint": 0,
                                                           "unsubscribe": 0})
    unverified: list[tuple[str, str]] = field(default_factory=list)  # (file, what it says)
    unparseable: list[str] = field(default_factory=list)


def _verified_delivery(conn: Connection, report: Report,
                       ids: MessageIds) -> tuple[int, int, str] | None:
    """(delivery id, subscriber id, address) that the report proves it is about."""
    c = deliveries.c
    row = None
    if report.delivery_id is not None:
        row = conn.execute(sa.select(c.id, c.subscriber_id, c.email)
                           .where(c.id == report.delivery_id)).first()
    elif report.original_message_id:
        entries = dict(conn.execute(sa.select(sends.c.entry_id, sends.c.id)).all())
        found = verified(ids, report.original_message_id, entries)
        if found is not None:
            row = conn.execute(sa.select(c.id, c.subscriber_id, c.email).where(
                c.send_id == entries[found[0]], c.subscriber_id == found[1])).first()
    if row is None:
        return None
    if report.groups > 1 and recipient_key(report.recipient) != str(row.email).lower():
        return None  # another recipient group of the same report: not this delivery's
    return int(row.id), int(row.subscriber_id), str(row.email)


def apply_report(conn: Connection, report: Report, ids: MessageIds, threshold: int,
                 now: datetime, message_key: str = "") -> bool:
    """Act on a verified report; record an unverified one (changing nobody). True if acted."""
    target = _verified_delivery(conn, report, ids)
    if target is None:
        _record_unverified(conn, report.kind, report.status, report.recipient,
                           report.detail, "matches no delivery by VERP or Message-ID",
                           message_key, now)
        return False
    delivery_id, subscriber_id, _email = target
    reply = f"{report.kind}: {report.status} {report.detail}".strip()[:1000]
    outbox.record_returned(conn, delivery_id, report.kind == "hard", reply, now)
    detail = {"status": report.status, "detail": report.detail[:200]}
    if report.kind == "complaint":
        store.mark_complained(conn, subscriber_id, now, detail)
    elif report.kind == "hard":
        store.count_hard_bounces(conn, [subscriber_id], threshold, now, detail)
    return True


def _record_unverified(conn: Connection, kind: str, status: str, recipient: str, detail: str,
                       reason: str, message_key: str, now: datetime) -> None:
    conn.execute(bounce_reports.insert().values(
        received_at=now, message_key=message_key[:200], kind=kind, status=status[:32],
        recipient=recipient_key(recipient)[:320], detail=detail[:1000], reason=reason))


def forget_reports(conn: Connection, address_key: str) -> None:
    """Delete the unverified reports naming an address (erasure)."""
    conn.execute(sa.delete(bounce_reports).where(
        sa.func.lower(bounce_reports.c.recipient) == address_key))


def apply_unsubscribe(conn: Connection, token: str, signer: TokenSigner, now: datetime,
                      message_key: str = "") -> bool:
    """Unsubscribe as the one-click POST does (idempotent); an unverifiable token is
    recorded and changes nobody."""
    try:
        reader = reader_from(signer, Purpose.UNSUBSCRIBE, token)
    except BadToken:
        _record_unverified(conn, "unsubscribe", "", "", token[:200],
                           "unsubscribe mail whose token does not verify", message_key, now)
        return False
    subscriber = store.token_holder(conn, reader)
    if subscriber is not None:  # else no longer on the list: nobody to change
        store.unsubscribe(conn, subscriber.id, now, "mailto")
    return True


def _apply(engine: Engine, reports: list[Report], ids: MessageIds, threshold: int,
           now: datetime, key: str) -> list[bool]:
    with engine.begin() as conn:
        return [apply_report(conn, report, ids, threshold, now, key) for report in reports]


def _unsubscribe(engine: Engine, token: str, signer: TokenSigner, now: datetime,
                 key: str) -> bool:
    with engine.begin() as conn:
        return apply_unsubscribe(conn, token, signer, now, key)


def process_maildir(engine: Engine, maildir: Path, secrets: Iterable[str], threshold: int,
                    now: datetime, retry_policy: RetryPolicy | None = None) -> Outcome:
    """Process unseen messages in a Maildir; understood ones are marked seen (moved to cur/),
    others stay in new/ and are reported. A message is moved only after its transaction
    committed (retried through an outage), so a failure loses none."""
    box = mailbox.Maildir(str(maildir), factory=None, create=False)
    outcome = Outcome()
    keys = tuple(secrets)
    ids, signer = MessageIds(keys), TokenSigner(keys)
    policy_ = retry_policy or RetryPolicy()
    for key in sorted(box.keys()):
        message = box.get_message(key)
        if message.get_subdir() != "new":
            continue
        raw = box.get_bytes(key)
        token = unsubscribe_request(raw)
        if token is not None:
            if retry(partial(_unsubscribe, engine, token, signer, now, key), policy_):
                outcome.kinds["unsubscribe"] += 1
            else:
                outcome.unverified.append((key, "unsubscribe mail: token does not verify"))
        else:
            reports = parse_report(raw, keys)
            if reports is None:
                outcome.unparseable.append(key)
                continue
            acted = retry(partial(_apply, engine, reports, ids, threshold, now, key), policy_)
            for report, done in zip(reports, acted, strict=True):
                if done:
                    outcome.kinds[report.kind] += 1
                else:
                    outcome.unverified.append(
                        (key, f"{report.kind} {report.status} {report.recipient}".strip()))
        outcome.processed += 1
        message.set_subdir("cur")
        message.add_flag("S")
        box[key] = message
    return outcome


def forget_messages(maildir: Path, address: str) -> int:
    """Delete the raw reports in a Maildir spool that mention `address` (erasure); returns
    how many. Matching is on the bytes, case-insensitively, so a quoted copy counts too."""
    needle = address.lower().encode()
    removed = 0
    for folder in ("new", "cur", "tmp"):
        directory = maildir / folder
        if not directory.is_dir():
            continue
        for path in directory.iterdir():
            if path.is_file() and needle in path.read_bytes().lower():
                path.unlink()
                removed += 1
    return removed
