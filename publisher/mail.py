"""Per-delivery MIME messages, prepared once per issue and personalised in bytes.

`prepare` turns a rendered issue into a list of byte pieces and slots. Bodies are
quoted-printable, encoded once; every placeholder stands on its own soft-broken line, so a
recipient's value (QP-encoded on its own) drops in without touching the surrounding bytes.
The result is plain 7-bit ASCII with CRLF line ends and lines of at most 76 octets in the
bodies and 998 in the headers, and it parses to the same message the stdlib would build.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr
from enum import Enum
from urllib.parse import quote

from publisher import urls
from publisher.email_render import (
    EMAIL,
    NAME,
    PLACEHOLDERS,
    PREFERENCES_URL,
    UNSUBSCRIBE_URL,
    RenderedEmail,
)
from publisher.errors import InvalidAddress
from publisher.tokens import TokenSigner, preferences_token, unsubscribe_token

CRLF = b"\r\n"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_ADDRESS = re.compile(r"^[^\s<>()\[\]\\,;:\"@\x00-\x1f\x7f]+@[A-Za-z0-9.-]+$")
_SPLIT = re.compile("(" + "|".join(re.escape(p) for p in PLACEHOLDERS) + ")")


class Slot(Enum):
    """Where a per-recipient value goes."""

    TO = "to"
    MESSAGE_ID = "message-id"
    LIST_UNSUBSCRIBE = "list-unsubscribe"
    TEXT_EMAIL = "text:" + EMAIL
    TEXT_NAME = "text:" + NAME
    TEXT_UNSUBSCRIBE = "text:" + UNSUBSCRIBE_URL
    TEXT_PREFERENCES = "text:" + PREFERENCES_URL
    HTML_EMAIL = "html:" + EMAIL
    HTML_NAME = "html:" + NAME
    HTML_UNSUBSCRIBE = "html:" + UNSUBSCRIBE_URL
    HTML_PREFERENCES = "html:" + PREFERENCES_URL


@dataclass(frozen=True)
class Recipient:
    """One delivery's person."""

    subscriber_id: int
    email: str
    name: str = ""


@dataclass(frozen=True)
class SendContext:
    """Issue-level facts every message of a send shares."""

    rendered: RenderedEmail
    entry_id: str
    base_url: str
    from_name: str
    from_address: str
    reply_to: str | None
    unsubscribe_mailto: str | None
    site_title: str
    date: datetime


@dataclass(frozen=True)
class PreparedMessage:
    """A message as bytes and slots; `personalise` fills the slots for one recipient."""

    pieces: tuple[bytes | Slot, ...]
    envelope_from: str

    def personalise(self, values: dict[Slot, bytes]) -> bytes:
        return b"".join(p if isinstance(p, bytes) else values[p] for p in self.pieces)


def clean_text(value: str) -> str:
    """Control characters (CR, LF, NUL…) never reach a header or a body slot."""
    return _CONTROL.sub(" ", value).strip()


def check_address(address: str) -> str:
    """A plain ASCII addr-spec or InvalidAddress: nothing that could break a header."""
    if len(address) > 320 or not _ADDRESS.match(address) or not address.isascii():
        raise InvalidAddress(f"{address!r}: not a deliverable ASCII address")
    return address


def _encode_phrase(name: str) -> str:
    """A display name as an RFC 5322 phrase: quoted ASCII, or RFC 2047 words.

    Non-ASCII names are cut into encoded words only where the name has a space (the space
    stays inside the word before it). Splitting inside a word would make Python's parser,
    and others with the same bug, show a space that is not there; a space-free run longer
    than one 75-character word is therefore kept whole (clients accept longer words).
    """
    name = clean_text(name)
    if name.isascii():
        return formataddr((name, "x@x")).rsplit(" <", 1)[0] if name else ""
    whole = _encoded_word(name)
    if len(whole) <= 75:
        return whole
    return "\r\n ".join(_encoded_word(word) for word in re.findall(r"\S+\s*", name))


def _encoded_word(text: str) -> str:
    return "=?utf-8?b?" + base64.b64encode(text.encode("utf-8")).decode("ascii") + "?="


def format_address(name: str, address: str) -> str:
    phrase = _encode_phrase(name)
    return f"{phrase} <{check_address(address)}>" if phrase else check_address(address)


def _header(name: str, value: str) -> bytes:
    return f"{name}: {value}".encode("ascii") + CRLF


def _unstructured(value: str) -> str:
    value = clean_text(value)
    if value.isascii() and len(value) < 900:
        return value
    return Header(value, "utf-8", maxlinelen=76).encode(linesep="\r\n")


def message_id(entry_id: str, subscriber_id: int, domain: str) -> str:
    """Deterministic: a retried delivery is the same message."""
    digest = hashlib.sha256(f"{entry_id}\x00{subscriber_id}".encode()).hexdigest()[:24]
    return f"<{digest}.{subscriber_id}@{domain}>"


def _qp(data: str) -> bytes:
    return binascii.b2a_qp(data.encode("utf-8"), istext=True).replace(b"\n", CRLF)


def _qp_body(text: str, prefix: str) -> list[bytes | Slot]:
    """QP-encode text once; each placeholder becomes a slot on its own soft-broken line."""
    pieces: list[bytes | Slot] = []
    for index, segment in enumerate(_SPLIT.split(text.replace("\r\n", "\n"))):
        if index % 2:
            pieces.extend([b"=\r\n", Slot(prefix + segment), b"=\r\n"])
        elif segment:
            pieces.append(_qp(segment))
    return pieces


def _boundary(context: SendContext) -> str:
    # "=_" cannot occur in quoted-printable text, so the boundary never collides.
    digest = hashlib.sha256(context.entry_id.encode()).hexdigest()[:20]
    return f"=_publisher_{digest}"


def _part_header(subtype: str) -> bytes:
    return (f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n").encode("ascii")


def list_id(context: SendContext) -> str:
    domain = context.from_address.rsplit("@", 1)[1]
    return f"{_encode_phrase(context.site_title)} <{context.from_address.split('@')[0]}.{domain}>"


def prepare(context: SendContext) -> PreparedMessage:
    """Build the issue's message once, with slots for the per-recipient values."""
    boundary = _boundary(context)
    head: list[bytes | Slot] = [
        _header("From", format_address(context.from_name, context.from_address)),
        b"To: ", Slot.TO, CRLF,
        _header("Subject", _unstructured(context.rendered.subject)),
        _header("Date", format_datetime(context.date)),
        b"Message-ID: ", Slot.MESSAGE_ID, CRLF,
        _header("MIME-Version", "1.0"),
        _header("List-Id", list_id(context)),
        b"List-Unsubscribe: ", Slot.LIST_UNSUBSCRIBE, CRLF,
        _header("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
    ]
    if context.reply_to:
        head.append(_header("Reply-To", format_address("", context.reply_to)))
    head.append(_header("Content-Type",
                        f'multipart/alternative;\r\n boundary="{boundary}"'))
    head.append(_header("Content-Language", context.rendered.language))
    body: list[bytes | Slot] = [CRLF, f"--{boundary}\r\n".encode(), _part_header("plain")]
    body += _qp_body(context.rendered.text, "text:")
    body += [CRLF, f"--{boundary}\r\n".encode(), _part_header("html")]
    body += _qp_body(context.rendered.html, "html:")
    body += [CRLF, f"--{boundary}--\r\n".encode()]
    pieces = _merge([*head, *body])
    return PreparedMessage(pieces=tuple(pieces), envelope_from=context.from_address)


def _merge(pieces: list[bytes | Slot]) -> list[bytes | Slot]:
    """Join adjacent byte pieces so personalising is one join over few pieces."""
    merged: list[bytes | Slot] = []
    for piece in pieces:
        if isinstance(piece, bytes) and merged and isinstance(merged[-1], bytes):
            merged[-1] = merged[-1] + piece
        else:
            merged.append(piece)
    return merged


@dataclass(frozen=True)
class Personaliser:
    """Computes one recipient's slot values (tokens, URLs, encoded header values)."""

    context: SendContext
    signer: TokenSigner
    domain: str

    def values(self, recipient: Recipient) -> dict[Slot, bytes]:
        email = check_address(recipient.email)
        name = clean_text(recipient.name)
        unsub_token = unsubscribe_token(self.signer, recipient.subscriber_id)
        unsub = urls.unsubscribe_url(self.context.base_url, unsub_token)
        prefs = urls.preferences_url(self.context.base_url,
                                     preferences_token(self.signer, recipient.subscriber_id))
        mailto = self.context.unsubscribe_mailto or self.context.from_address
        list_unsub = (f"<{unsub}>,\r\n <mailto:{mailto}?subject="
                      f"{quote('unsubscribe ' + unsub_token)}>")
        shown = name or email
        return {
            Slot.TO: format_address(name, email).encode("ascii"),
            Slot.MESSAGE_ID: message_id(self.context.entry_id, recipient.subscriber_id,
                                        self.domain).encode("ascii"),
            Slot.LIST_UNSUBSCRIBE: list_unsub.encode("ascii"),
            Slot.TEXT_EMAIL: _qp(email), Slot.TEXT_NAME: _qp(shown),
            Slot.TEXT_UNSUBSCRIBE: _qp(unsub), Slot.TEXT_PREFERENCES: _qp(prefs),
            Slot.HTML_EMAIL: _qp(html.escape(email)), Slot.HTML_NAME: _qp(html.escape(shown)),
            Slot.HTML_UNSUBSCRIBE: _qp(html.escape(unsub)),
            Slot.HTML_PREFERENCES: _qp(html.escape(prefs)),
        }


Signer = Callable[[bytes], bytes]


def build(prepared: PreparedMessage, personaliser: Personaliser, recipient: Recipient,
          sign: Signer | None = None) -> bytes:
    """The final bytes for one recipient (DKIM-signed when a signer is given)."""
    message = prepared.personalise(personaliser.values(recipient))
    return sign(message) if sign is not None else message
