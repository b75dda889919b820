"""Returned mail: VERP envelope senders, DSN (RFC 3464) and ARF (RFC 5965) parsing, and the
resulting changes to deliveries and subscribers.

A report is matched to a delivery by, in order: its VERP address, the Message-ID of the
returned original (publisher's ids name the subscriber), or the failed recipient address.
Hard bounces count against the subscriber (`bounced` at `bounces.hard_bounce_threshold`),
complaints make them `complained` at once; both stop future sends. Messages that cannot
be understood are kept in place and reported, never deleted.
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

from publisher import subscribers
from publisher.addresses import normalise_address
from publisher.db import deliveries
from publisher.db import subscribers as subscriber_table
from publisher.errors import InvalidAddress
from publisher.outage import RetryPolicy, retry

VERP_PREFIX = "bounces"
_VERP = re.compile(rf"{VERP_PREFIX}\+d(\d+)-([0-9a-f]{{16}})@", re.IGNORECASE)
_OUR_MESSAGE_ID = re.compile(r"<[0-9a-f]{24}\.(\d+)@[^>]+>")
_STATUS = re.compile(r"\b([245])\.\d{1,3}\.\d{1,3}\b")


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
    """What one returned message says."""

    kind: str  # hard | soft | complaint
    recipients: tuple[str, ...]
    status: str
    detail: str
    delivery_id: int | None = None
    subscriber_id: int | None = None


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


def _dsn_fields(message: Message) -> list[dict[str, str]]:
    """Per-recipient field groups of the message/delivery-status part."""
    for part in _parts(message):
        if part.get_content_type() == "message/delivery-status":
            payload = part.get_payload()
            groups = [g for g in payload if isinstance(g, Message)] if isinstance(
                payload, list) else []
            return [{k.lower(): str(v) for k, v in group.items()} for group in groups[1:]]
    return []


def _classify_dsn(message: Message) -> tuple[str, str, list[str], str]:
    groups = _dsn_fields(message)
    recipients, statuses, details = [], [], []
    for group in groups:
        recipient = group.get("final-recipient") or group.get("original-recipient") or ""
        recipients.append(recipient.split(";", 1)[-1].strip())
        status = (group.get("status") or "").strip()
        statuses.append(status)
        details.append((group.get("diagnostic-code") or "").split(";", 1)[-1].strip())
        if group.get("action", "").strip().lower() == "delayed" and not status:
            statuses[-1] = "4.0.0"
    status = next((s for s in statuses if s.startswith("5")), statuses[0] if statuses else "")
    kind = "hard" if status.startswith("5") else "soft"
    return kind, status, recipients, "; ".join(d for d in details if d)


def _classify_text(message: Message) -> tuple[str, str, list[str], str] | None:
    """Non-DSN bounces (Exim's default, some providers): flufl.bounce finds the addresses."""
    permanent, temporary = all_failures(message)
    found = permanent or temporary
    if not found:
        return None
    body = message.get_payload(decode=True)
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(message)
    match = _STATUS.search(text)
    status = match.group(0) if match else ("5.0.0" if permanent else "4.0.0")
    kind = "hard" if status.startswith("5") else "soft"
    addresses = [a.decode() if isinstance(a, bytes) else str(a) for a in sorted(found)]
    detail = next((line.strip() for line in text.splitlines() if status in line), "")
    return kind, status, addresses, detail[:300]


def parse_report(raw: bytes, secrets: Iterable[str]) -> Report | None:
    """Understand one returned message; None when it is neither a bounce nor a complaint."""
    message = message_from_bytes(raw, policy=policy.compat32)
    envelope = " ".join(str(message.get(h, "")) for h in
                        ("X-Original-To", "Delivered-To", "To", "X-Envelope-To"))
    delivery_id = delivery_from_verp(secrets, envelope)
    original = _original_headers(message)
    subscriber_id = None
    if original is not None:
        found = _OUR_MESSAGE_ID.search(str(original.get("Message-ID", "")))
        subscriber_id = int(found.group(1)) if found else None
    param = message.get_param("report-type")
    report_type = param.lower() if isinstance(param, str) else ""
    if message.get_content_type() == "multipart/report" and report_type == "feedback-report":
        recipients = [str(original.get("To", ""))] if original is not None else []
        return Report("complaint", tuple(recipients), "", _feedback_type(message),
                      delivery_id, subscriber_id)
    if message.get_content_type() == "multipart/report" and report_type == "delivery-status":
        kind, status, recipients, detail = _classify_dsn(message)
    else:
        classified = _classify_text(message)
        if classified is None:
            return None
        kind, status, recipients, detail = classified
    return Report(kind, tuple(r for r in recipients if r), status, detail, delivery_id,
                  subscriber_id)


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
                                                           "complaint": 0})
    unmatched: list[str] = field(default_factory=list)
    unparseable: list[str] = field(default_factory=list)


def _subscriber_for(conn: Connection, report: Report) -> int | None:
    if report.delivery_id is not None:
        value = conn.execute(sa.select(deliveries.c.subscriber_id)
                             .where(deliveries.c.id == report.delivery_id)).scalar()
        if value is not None:
            return int(value)
    if report.subscriber_id is not None:
        return report.subscriber_id
    for recipient in report.recipients:
        address = re.sub(r"^.*<|>.*$", "", recipient).strip()
        try:
            found = subscribers.find(conn, normalise_address(address))
        except InvalidAddress:
            continue
        if found is not None:
            return found.id
    return None


def apply_report(conn: Connection, report: Report, threshold: int, now: datetime) -> bool:
    """Record the report on the delivery and the subscriber; False when nothing matched."""
    subscriber_id = _subscriber_for(conn, report)
    if subscriber_id is None:
        return False
    reply = f"{report.kind}: {report.status} {report.detail}".strip()[:1000]
    target = deliveries.c.id == report.delivery_id if report.delivery_id else sa.and_(
        deliveries.c.subscriber_id == subscriber_id,
        deliveries.c.id == sa.select(sa.func.max(deliveries.c.id))
        .where(deliveries.c.subscriber_id == subscriber_id).scalar_subquery())
    new_status = {"hard": "failed", "complaint": "sent", "soft": "sent"}[report.kind]
    conn.execute(deliveries.update().where(target).values(status=new_status, last_reply=reply,
                                                          updated_at=now))
    detail = {"status": report.status, "detail": report.detail[:200]}
    if report.kind == "complaint":
        subscribers.mark_complained(conn, subscriber_id, now, detail)
    elif report.kind == "hard":
        conn.execute(subscriber_table.update().where(subscriber_table.c.id == subscriber_id)
                     .values(bounce_count=subscriber_table.c.bounce_count + 1))
        count = conn.execute(sa.select(subscriber_table.c.bounce_count)
                             .where(subscriber_table.c.id == subscriber_id)).scalar()
        if int(count or 0) >= threshold:
            subscribers.mark_bounced(conn, subscriber_id, now, detail)
    return True


def _apply(engine: Engine, report: Report, threshold: int, now: datetime) -> bool:
    with engine.begin() as conn:
        return apply_report(conn, report, threshold, now)


def process_maildir(engine: Engine, maildir: Path, secrets: Iterable[str], threshold: int,
                    now: datetime, retry_policy: RetryPolicy | None = None) -> Outcome:
    """Process unseen messages in a Maildir; understood ones are marked seen (moved to cur/),
    others stay where they are and are reported. A message is moved only after its
    transaction committed (retried through an outage), so a failure loses none."""
    box = mailbox.Maildir(str(maildir), factory=None, create=False)
    outcome = Outcome()
    keys = list(secrets)
    for key in sorted(box.keys()):
        message = box.get_message(key)
        if message.get_subdir() != "new":
            continue
        raw = box.get_bytes(key)
        report = parse_report(raw, keys)
        if report is None:
            outcome.unparseable.append(key)
            continue
        matched = retry(partial(_apply, engine, report, threshold, now),
                        retry_policy or RetryPolicy())
        if not matched:
            outcome.unmatched.append(key)
        outcome.processed += 1
        outcome.kinds[report.kind] += 1
        message.set_subdir("cur")
        message.add_flag("S")
        box[key] = message
    return outcome

