"""Per-delivery MIME messages, prepared once per issue and personalised in bytes.

`prepare` turns a rendered issue into a list of byte pieces and slots, encoded once.

- 8bit (the default, sent with BODY=8BITMIME): bodies are UTF-8 as they are, with CRLF line
  ends. MJML writes most of the HTML on one line, so long HTML lines are folded at the space
  after a start tag's name, where a line break means exactly what the space did. A part is
  8bit only if every line, with each slot counted at SLOT_BUDGET octets, stays within 998;
  a recipient whose value is longer than the budget gets the quoted-printable variant.
- quoted-printable: every placeholder stands on its own soft-broken line, so a recipient's
  value (QP-encoded on its own) drops in without touching the surrounding bytes; the result
  is 7-bit ASCII with body lines of at most 76 octets.

Headers are ASCII (RFC 2047 where needed) with lines of at most 998 octets, and either form
parses to the same message the stdlib would build.

The wire form (`WireForm`) is settled in `prepare` too: the pieces dot-stuffed once, and for
each slot whether it starts a line. Per recipient only the slot values are stuffed, on their
own; a value the precomputed form cannot take as it is (empty, ending a line, with a bare CR
or LF) sends that recipient down the one-off path (`wire.outgoing_from`), never wrongly.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import html
import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr
from enum import StrEnum

from publisher import urls
from publisher.errors import InvalidAddress
from publisher.mail.message_ids import MessageIds
from publisher.mail.rendered import (
    EMAIL,
    NAME,
    PLACEHOLDERS,
    PREFERENCES_URL,
    UNSUBSCRIBE_URL,
    RenderedEmail,
)
from publisher.mail.wire import (
    Outgoing,
    canonical,
    crlf_only,
    outgoing_from,
    stuff,
    with_headers,
)
from publisher.tokens import TokenSigner, reader_tokens

CRLF = b"\r\n"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
_ADDRESS = re.compile(r"^[^\s<>()\[\]\\,;:\"@\x00-\x1f\x7f]+@[A-Za-z0-9.-]+$")
_SPLIT = re.compile("(" + "|".join(re.escape(p) for p in PLACEHOLDERS) + ")")
_TAG_GAP = re.compile(rb"<[A-Za-z][A-Za-z0-9-]*( )")  # the space after a start tag's name
SLOT_BUDGET = 256  # octets a personal value may take on an 8bit line
FOLD_AT = 600  # long 8bit HTML lines are folded near this many octets
MAX_LINE = 998


class Slot(StrEnum):
    """Where a per-recipient value goes (a str enum: it hashes at C speed, and every
    message looks up a dozen slots)."""

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


HEADER_SLOTS = frozenset({Slot.TO, Slot.MESSAGE_ID, Slot.LIST_UNSUBSCRIBE})


@dataclass(frozen=True)
class WireForm:
    """Pieces as written after DATA: byte pieces dot-stuffed once, slots left open.

    Exact as long as every slot value is non-empty and does not end a line, so that a piece
    after a slot never starts a line and a slot starts one only after a piece ending in LF
    (`line_start`). `size` counts the byte pieces unstuffed; `counts` says how often each
    slot occurs, so SIZE needs no second join.
    """

    pieces: tuple[bytes | Slot, ...]
    line_start: frozenset[Slot]
    size: int
    counts: tuple[tuple[Slot, int], ...]
    eight_bit: bool


def wire_form(pieces: tuple[bytes | Slot, ...]) -> WireForm | None:
    """The pieces stuffed, or None if they are not CRLF throughout or do not end with CRLF
    (then every recipient takes the one-off path)."""
    last = pieces[-1] if pieces else b""
    if not isinstance(last, bytes) or not last.endswith(CRLF):
        return None
    stuffed: list[bytes | Slot] = []
    line_start: set[Slot] = set()
    counts: dict[Slot, int] = {}
    at_line_start = True
    for piece in pieces:
        if isinstance(piece, Slot):
            if at_line_start:
                line_start.add(piece)
            counts[piece] = counts.get(piece, 0) + 1
            stuffed.append(piece)
            at_line_start = False  # a value never ends a line (else: the one-off path)
            continue
        if not crlf_only(piece):
            return None
        stuffed.append(stuff(piece, at_line_start))
        at_line_start = piece.endswith(b"\n")
    return WireForm(
        pieces=tuple(stuffed), line_start=frozenset(line_start),
        size=sum(len(p) for p in pieces if isinstance(p, bytes)),
        counts=tuple(counts.items()),
        eight_bit=not all(p.isascii() for p in pieces if isinstance(p, bytes)))


@dataclass(frozen=True)
class PreparedMessage:
    """A message as bytes and slots; `personalise` fills the slots for one recipient,
    `outgoing` gives that recipient's message as written after DATA.

    Header slots and the slots of 8bit parts (`eight_bit_slots`) take their value as UTF-8
    octets, the others quoted-printable. `fallback` is the all-QP message, for a recipient
    whose value in an 8bit part is longer than SLOT_BUDGET; it has its own wire form.
    """

    pieces: tuple[bytes | Slot, ...]
    eight_bit_slots: frozenset[Slot] = frozenset()
    fallback: PreparedMessage | None = None
    wire: WireForm | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Computed here, so `replace` (which `prepare` uses) recomputes it too.
        object.__setattr__(self, "wire", wire_form(self.pieces))

    def personalise(self, values: dict[Slot, str]) -> bytes:
        """The message for one recipient, unstuffed (what DKIM signs)."""
        message, encoded = self.chosen(values)
        return message.join(encoded)

    def outgoing(self, values: dict[Slot, str], *,
                 with_message: bool = False) -> tuple[Outgoing, bytes]:
        """The message as written after DATA, and (with_message) the same message unstuffed
        and canonical, for DKIM; b"" without."""
        message, encoded = self.chosen(values)
        sent = message.written(encoded)
        if not with_message:
            return sent, b""
        text = message.join(encoded)
        return sent, (text if message.fits_wire(encoded) else canonical(text))

    def chosen(self, values: dict[Slot, str]) -> tuple[PreparedMessage, dict[Slot, bytes]]:
        """This message or its fallback, with the values encoded for the one chosen."""
        raw = HEADER_SLOTS | self.eight_bit_slots
        encoded = {slot: value.encode() if slot in raw else _qp(value)
                   for slot, value in values.items()}
        if self.fallback is not None and any(
                len(encoded[slot]) > SLOT_BUDGET for slot in self.eight_bit_slots):
            return self.fallback.chosen(values)
        return self, encoded

    def fits_wire(self, encoded: dict[Slot, bytes]) -> bool:
        """The precomputed wire form takes these values as they are."""
        return self.wire is not None and _stuffed_values(self.wire, encoded) is not None

    def written(self, encoded: dict[Slot, bytes], headers: bytes = b"") -> Outgoing:
        """This message (as `chosen` chose it) as written after DATA, with `headers` (whole
        header lines, unstuffed: DKIM-Signature) in front, all in one join."""
        wire = self.wire
        stuffed = None if wire is None else _stuffed_values(wire, encoded)
        if wire is None or stuffed is None:  # a value the wire form cannot take as it is
            sent = outgoing_from(canonical(self.join(encoded)))
            return with_headers(headers, sent) if headers else sent
        lead = with_headers(headers, Outgoing(b"", 0, False)) if headers else None
        data = b"".join([b"" if lead is None else lead.data,
                         *[p if isinstance(p, bytes) else stuffed[p] for p in wire.pieces]])
        size = wire.size + sum(len(encoded[slot]) * count for slot, count in wire.counts)
        eight_bit = wire.eight_bit or not all(v.isascii() for v in stuffed.values())
        if lead is None:
            return Outgoing(data, size, eight_bit)
        return Outgoing(data, size + lead.size, eight_bit or lead.eight_bit)

    def join(self, encoded: dict[Slot, bytes]) -> bytes:
        """The pieces with these encoded values in their slots."""
        return b"".join([p if isinstance(p, bytes) else encoded[p] for p in self.pieces])


def _stuffed_values(wire: WireForm, encoded: dict[Slot, bytes]) -> dict[Slot, bytes] | None:
    """Each slot's value dot-stuffed on its own, or None if one would change where lines
    start around it (empty, ending in LF) or holds a bare CR or LF."""
    stuffed: dict[Slot, bytes] = {}
    for slot, _ in wire.counts:
        value = encoded[slot]
        if not value or value.endswith(b"\n") or not crlf_only(value):
            return None
        stuffed[slot] = stuff(value, slot in wire.line_start)
    return stuffed


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
    if name.isascii() and "=?" not in name:  # "=?…?=" text would decode as an encoded word
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
    """An unstructured header value (Subject): as it is, or RFC 2047 when it must be."""
    value = clean_text(value)
    if value.isascii() and len(value) < 900 and "=?" not in value:  # see _encode_phrase
        return value
    return Header(value, "utf-8", maxlinelen=76).encode(linesep="\r\n")


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


def _eight_bit_body(text: str, prefix: str, fold: bool) -> list[bytes | Slot] | None:
    """UTF-8 lines joined by CRLF with slots in place, or None if a line could exceed 998."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8").split(b"\n")
    if fold:
        lines = [folded for line in lines for folded in _fold_html_line(line)]
    pieces: list[bytes | Slot] = []
    for number, line in enumerate(lines):
        if _cost(line, 0, len(line)) > MAX_LINE:
            return None
        segments = _SPLIT.split(line.decode("utf-8"))
        if number:
            pieces.append(CRLF)
        for index, segment in enumerate(segments):
            if index % 2:
                pieces.append(Slot(prefix + segment))
            elif segment:
                pieces.append(segment.encode("utf-8"))
    return pieces


def _fold_html_line(line: bytes, limit: int = FOLD_AT) -> list[bytes]:
    """Break a long HTML line where a start tag's name meets its attributes: any whitespace
    is the same there, so the page does not change. Placeholders count at SLOT_BUDGET."""
    if _cost(line, 0, len(line)) <= limit:
        return [line]
    folded: list[bytes] = []
    start, previous = 0, -1
    for match in _TAG_GAP.finditer(line):
        gap = match.start(1)
        if _cost(line, start, gap) > limit and previous > start:
            folded.append(line[start:previous])
            start = previous + 1
        previous = gap
    folded.append(line[start:])
    return folded


def _cost(line: bytes, start: int, end: int) -> int:
    """Octets of line[start:end] once each placeholder holds a value of SLOT_BUDGET."""
    return end - start + line.count(b"@@", start, end) // 2 * SLOT_BUDGET


def _boundary(context: SendContext) -> str:
    # "=_" cannot occur in quoted-printable text; 8bit text would have to quote this
    # issue's own digest. Either way the boundary does not collide with the body.
    digest = hashlib.sha256(context.entry_id.encode()).hexdigest()[:20]
    return f"=_publisher_{digest}"


def _part_header(subtype: str, encoding: str) -> bytes:
    return (f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
            f"Content-Transfer-Encoding: {encoding}\r\n\r\n").encode("ascii")


def list_id(context: SendContext) -> str:
    domain = context.from_address.rsplit("@", 1)[1]
    return f"{_encode_phrase(context.site_title)} <{context.from_address.split('@')[0]}.{domain}>"


def prepare(context: SendContext, eight_bit: bool = True) -> PreparedMessage:
    """Build the issue's message once, with slots for the per-recipient values.

    With eight_bit, each part is 8bit where its lines allow it (see the module docstring)."""
    quoted = _prepare(context, {})
    if not eight_bit:
        return quoted
    parts = {prefix: _eight_bit_body(text, prefix, fold=prefix == "html:")
             for prefix, text in (("text:", context.rendered.text),
                                  ("html:", context.rendered.html))}
    raw = {prefix: body for prefix, body in parts.items() if body is not None}
    if not raw:
        return quoted
    slots = frozenset(s for s in Slot if s.value.split(":")[0] + ":" in raw)
    return replace(_prepare(context, raw), eight_bit_slots=slots, fallback=quoted)


def _prepare(context: SendContext, raw: dict[str, list[bytes | Slot]]) -> PreparedMessage:
    """The message with the parts in `raw` as 8bit and the others quoted-printable."""
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
    if raw:  # a multipart holding an 8bit part is itself 8bit (RFC 2045 6.4)
        head.append(_header("Content-Transfer-Encoding", "8bit"))
    body: list[bytes | Slot] = []
    for subtype, prefix, text in (("plain", "text:", context.rendered.text),
                                  ("html", "html:", context.rendered.html)):
        encoding = "8bit" if prefix in raw else "quoted-printable"
        body += [CRLF, f"--{boundary}\r\n".encode(), _part_header(subtype, encoding)]
        body += raw[prefix] if prefix in raw else _qp_body(text, prefix)
    body += [CRLF, f"--{boundary}--\r\n".encode()]
    pieces = _merge([*head, *body])
    return PreparedMessage(pieces=tuple(pieces))


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
    message_ids: MessageIds

    def values(self, recipient: Recipient) -> dict[Slot, str]:
        email = check_address(recipient.email)
        name = clean_text(recipient.name)
        unsub_token, prefs_token = reader_tokens(self.signer, recipient.subscriber_id, email)
        unsub = urls.unsubscribe_url(self.context.base_url, unsub_token)
        prefs = urls.preferences_url(self.context.base_url, prefs_token)
        mailto = self.context.unsubscribe_mailto or self.context.from_address
        list_unsub = (f"<{unsub}>,\r\n <mailto:{mailto}?subject="
                      f"unsubscribe%20{unsub_token}>")  # tokens are URL-safe base64
        shown = name or email
        return {
            Slot.TO: format_address(name, email),
            Slot.MESSAGE_ID: self.message_ids.make(self.context.entry_id,
                                                   recipient.subscriber_id, self.domain),
            Slot.LIST_UNSUBSCRIBE: list_unsub,
            Slot.TEXT_EMAIL: email, Slot.TEXT_NAME: shown,
            Slot.TEXT_UNSUBSCRIBE: unsub, Slot.TEXT_PREFERENCES: prefs,
            Slot.HTML_EMAIL: html.escape(email), Slot.HTML_NAME: html.escape(shown),
            Slot.HTML_UNSUBSCRIBE: html.escape(unsub), Slot.HTML_PREFERENCES: html.escape(prefs),
        }
