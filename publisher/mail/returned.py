"""Reading returned mail: DSNs (RFC 3464), ARF complaints (RFC 5965), plain-text bounces
(Exim, qmail: through flufl.bounce) and unsubscribe requests by mail (our List-Unsubscribe
mailto). Pure: the raw bytes of one message in, `Report`s (or a token) out; no database, no
files. What a report does to deliveries and subscribers is publisher.sending.returned_mail's.

Each recipient group of a DSN is its own report. Status codes are read only where an SMTP
reply gives them, never from any dotted number. A message we cannot understand (no report
part, a multipart/report without a boundary) gives None, never a guess.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import Message

from flufl.bounce import all_failures

from publisher.mail.verp import delivery_from_verp

# An enhanced status code only where an SMTP reply gives it ("550 5.1.1", "550-5.1.1"),
# never any dotted number (a relay's IP address).
_REPLY_STATUS = re.compile(r"(?<![\d.])([245])\d\d[ -]([245]\.\d{1,3}\.\d{1,3})(?![\d.])")
_QUOTED_MESSAGE_ID = re.compile(r"^message-id:\s*(<[^>\s]+>)", re.IGNORECASE | re.MULTILINE)
_UNSUBSCRIBE_SUBJECT = re.compile(r"^\s*unsubscribe\s+([A-Za-z0-9_.\-]+)\s*$", re.IGNORECASE)


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


def unsubscribe_request(raw: bytes) -> str | None:
    """The token of an `unsubscribe TOKEN` mail (our List-Unsubscribe mailto), if it is one."""
    message = message_from_bytes(raw, policy=policy.compat32)
    if message.get_content_type() == "multipart/report":
        return None
    found = _UNSUBSCRIBE_SUBJECT.match(str(message.get("Subject", "")))
    return found.group(1) if found else None


def recipient_key(text: str) -> str:
    """The bare address of a recipient as a report names it (`Name <a@b>` -> `a@b`),
    lower-cased, to compare with a delivery's address."""
    return re.sub(r"^.*<|>.*$", "", text).strip().lower()
