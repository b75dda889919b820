"""Returned mail: VERP envelope senders, DSN (RFC 3464) and ARF (RFC 5965) parsing,
unsubscribe requests by mail (the List-Unsubscribe mailto), and the resulting changes to
deliveries and subscribers.

Anyone can mail the bounce address, so a report changes somebody only on evidence a
stranger cannot forge: its VERP address (HMAC-signed) or the returned original's
Message-ID (an AES block under our key that names the send and the subscriber). A report
that matches only by address is recorded in `bounce_reports` and listed for the operator;
it changes nobody. Each recipient group of a DSN is its own result. Hard bounces count
against the subscriber by the store's one rule (`bounced` at the threshold); complaints
make them `complained` at once. Messages that cannot be understood stay in `new/` and are
reported, never deleted.
"""

from __future__ import annotations

import hashlib
import hmac
import mailbox
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email import message_from_bytes, policy
from email.message import Message
from functools import partial
from pathlib import Path

import sqlalchemy as sa
from flufl.bounce import all_failures
from sqlalchemy.engine import Connection, Engine

from publisher.db import bounce_reports, deliveries, sends
from publisher.errors import BadToken
from publisher.mail.message_ids import MessageIds, verified
from publisher.outage import RetryPolicy, retry
from publisher.subscribers import store
from publisher.tokens import Purpose, TokenSigner, reader_from

VERP_PREFIX = "bounces"
BOUNCE_SPOOL = "var/bounces"  # where reports fetched over IMAP are copied (a Maildir)
_VERP = re.compile(rf"{VERP_PREFIX}\+d(\d+)-([0-9a-f]{{16}})@", re.IGNORECASE)
# An enhanced status code only where an SMTP reply gives it ("550 5.1.1", "550-5.1.1"),
# never any dotted number (a relay's IP address).
_REPLY_STATUS = re.compile(r"(?<![\d.])([245])\d\d[ -]([245]\.\d{1,3}\.\d{1,3})(?![\d.])")
_QUOTED_MESSAGE_ID = re.compile(r"^message-id:\s*(<[^>\s]+>)", re.IGNORECASE | re.MULTILINE)
_UNSUBSCRIBE_SUBJECT = re.compile(r"^\s*unsubscribe\s+([A-Za-z0-9_.\-]+)\s*$", re.IGNORECASE)


def _verp_mac(secret: str, delivery_id: int) -> str:
    digest = hmac.new(secret.encode(), f"publisher.verp.v1:{delivery_id}".encode(), hashlib.sha256)
    return digest.hexdigest()[:16]


def verp_address(secret: str, delivery_id: int, domain: str) -> str:
    """bounces+d<id>-<hmac>@domain: short, lower-case, and unforgeable."""
    return f"{VERP_PREFIX}+d{delivery_id}-{_verp_mac(secret, delivery_id)}@{domain}"


def delivery_from_verp(secrets: Iterable[str], text: str) -> int | None:
    match = _VERP.search(text)
    if not match:
        return None
    delivery_id, mac = int(match.group(1)), match.group(2).lower()
    if any(hmac.compare_digest(mac, _verp_mac(s, delivery_id)) for s in secrets):
        return delivery_id
    return None


@dataclass(frozen=True)
class Report:
    """What one returned message says about one recipient."""

    kind: str  # hard | soft | complaint
    recipient: str
    status: str
    detail: str
    delivery_id: int | None = None  # from a verified VERP address
    original_message_id: str = ""  # of the returned original, as quoted
    groups: int = 1  # recipient groups in the report (a DSN may name several)


def _parts(message: Message) -> Iterator[Message]:
    yield from message.walk()


def _original_headers(message: Message) -> Message | None:
    for part in _parts(message):
        kind = part.get_content_type()
        if kind == "message/rfc822":
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
        if kind == "text/rfc822-headers":
            raw = part.get_payload(decode=True)
            if isinstance(raw, bytes):
                return message_from_bytes(raw, policy=policy.compat32)
    return None


def _dsn_groups(message: Message) -> list[dict[str, str]] | None:
    """Per-message fields then per-recipient groups of the message/delivery-status part;
    None when the report has no such part (or no boundary to find it by)."""
    for part in _parts(message):
        if part.get_content_type() == "message/delivery-status":
            payload = part.get_payload()
            groups = [g for g in payload if isinstance(g, Message)] if isinstance(
                payload, list) else []
            return [{k.lower(): str(v) for k, v in group.items()} for group in groups]
    return None


def _dsn_results(groups: list[dict[str, str]]) -> list[tuple[str, str, str, str]]:
    """(kind, status, recipient, detail) per recipient group."""
    results = []
    for group in groups[1:]:
        recipient = group.get("final-recipient") or group.get("original-recipient") or ""
        status = (group.get("status") or "").strip()
        action = group.get("action", "").strip().lower()
        if not status:
            status = "4.0.0" if action == "delayed" else ("5.0.0" if action == "failed" else "")
        if not status or action in ("delivered", "relayed", "expanded"):
            continue
        kind = "hard" if status.startswith("5") and action != "delayed" else "soft"
        detail = (group.get("diagnostic-code") or "").split(";", 1)[-1].strip()
        results.append((kind, status, recipient.split(";", 1)[-1].strip(), detail))
    return results


def _text_results(message: Message) -> list[tuple[str, str, str, str]] | None:
    """Non-DSN bounces (Exim's default, qmail): flufl.bounce says which addresses failed
    permanently and which temporarily; status codes come only from SMTP reply lines."""
    temporary, permanent = all_failures(message)  # flufl.bounce returns them in this order
    if not permanent and not temporary:
        return None
    body = message.get_payload(decode=True)
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(message)
    replies = [(m.group(0), m.group(2)) for m in _REPLY_STATUS.finditer(text)]
    results = []
    for found, kind, default in ((permanent, "hard", "5.0.0"), (temporary, "soft", "4.0.0")):
        status = next((code for _, code in replies if code[0] == default[0]), default)
        detail = next((line.strip() for line in text.splitlines() if status in line), "")
        for address in sorted(found):
            recipient = address.decode() if isinstance(address, bytes) else str(address)
            results.append((kind, status, recipient, detail[:300]))
    return results


def parse_report(raw: bytes, secrets: Iterable[str]) -> list[Report] | None:
    """Understand one returned message: one Report per recipient it names; None when it is
    neither a bounce nor a complaint we can read."""
    message = message_from_bytes(raw, policy=policy.compat32)
    envelope = " ".join(str(message.get(h, "")) for h in
                        ("X-Original-To", "Delivered-To", "To", "X-Envelope-To"))
    delivery_id = delivery_from_verp(secrets, envelope)
    original = _original_headers(message)
    quoted = str(original.get("Message-ID", "")) if original is not None else ""
    param = message.get_param("report-type")
    report_type = param.lower() if isinstance(param, str) else ""
    if message.get_content_type() == "multipart/report" and not message.is_multipart():
        return None  # no boundary: its parts cannot be told apart
    if message.get_content_type() == "multipart/report" and report_type == "feedback-report":
        recipient = str(original.get("To", "")) if original is not None else ""
        return [Report("complaint", recipient, "", _feedback_type(message), delivery_id,
                       quoted)]
    if message.get_content_type() == "multipart/report" and report_type == "delivery-status":
        groups = _dsn_groups(message)
        if groups is None:
            return None
        if not quoted:  # Gmail quotes the original's id among the DSN fields
            quoted = groups[0].get("x-original-message-id", "") if groups else ""
        results = _dsn_results(groups)
    else:
        text_results = _text_results(message)
        if text_results is None:
            return None
        results = text_results
        if not quoted:  # Exim and qmail quote the original as text in the body
            body = raw.decode("utf-8", "replace").replace("\r\n", "\n").split("\n\n", 1)[-1]
            found = _QUOTED_MESSAGE_ID.search(body)
            quoted = found.group(1) if found else ""
    if not results:
        return None
    return [Report(kind, recipient, status, detail, delivery_id, quoted, len(results))
            for kind, status, recipient, detail in results]


def _feedback_type(message: Message) -> str:
    for part in _parts(message):
        if part.get_content_type() == "message/feedback-report":
            payload = part.get_payload()
            fields = payload[0] if isinstance(payload, list) and payload else part
            if isinstance(fields, Message):
                return f"feedback-type: {fields.get('Feedback-Type', 'abuse')}"
    return "feedback-type: abuse"


@dataclass
class Outcome:
    processed: int = 0
    kinds: dict[str, int] = field(default_factory=lambda: {"hard": 0, "soft": 0,
                                                           "complaint": 0,
                                                           "unsubscribe": 0})
    unverified: list[tuple[str, str]] = field(default_factory=list)  # (file, what it says)
    unparseable: list[str] = field(default_factory=list)


def _address_key(text: str) -> str:
    return re.sub(r"^.*<|>.*$", "", text).strip().lower()


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
    if report.groups > 1 and _address_key(report.recipient) != str(row.email).lower():
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
    new_status = {"hard": "failed", "complaint": "sent", "soft": "sent"}[report.kind]
    conn.execute(deliveries.update().where(deliveries.c.id == delivery_id)
                 .values(status=new_status, last_reply=reply, updated_at=now))
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
        recipient=_address_key(recipient)[:320], detail=detail[:1000], reason=reason))


def unsubscribe_request(raw: bytes) -> str | None:
    """The token of an `unsubscribe TOKEN` mail (our List-Unsubscribe mailto), if it is one."""
    message = message_from_bytes(raw, policy=policy.compat32)
    if message.get_content_type() == "multipart/report":
        return None
    found = _UNSUBSCRIBE_SUBJECT.match(str(message.get("Subject", "")))
    return found.group(1) if found else None


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
