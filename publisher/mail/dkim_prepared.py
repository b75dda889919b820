"""DKIM for a prepared message: what every recipient of a send shares is canonicalised and
hashed once, so per recipient only the slot values and the hash over the rest remain.

The body is canonicalised `simple` (dkim_signing.CANONICALIZATION): once it ends with one
CRLF, its canonical form is its own octets, and a slot value cannot change what the fixed
pieces canonicalise to, so they need no rewriting. What costs is the hash: the sha256 state
after the body's fixed beginning (up to its first slot) is kept and copied per recipient,
and the hash goes on over the values and the fixed pieces between them (sha256 cannot skip
the octets after a value). Headers: each field without a slot is parsed and relaxed once; a
field with a slot is relaxed per recipient from its own octets (dkim_signing.parse_field),
the other fields not at all. Dot-stuffing is not DKIM's concern: the plan is made from the
unstuffed pieces, and the wire form is stuffed on its own (mime.WireForm).

A plan holds while the values keep the message's shape: no bare CR or LF anywhere, and in a
header every CRLF followed by a space or tab (a folded line: never a new field or the end
of the header block). Otherwise, or when a message is not of a shape a plan can take, the
whole message is signed the general way (dkim_signing.make_header_signer); either way the
signature is the one dkimpy's own steps give.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from publisher.mail.dkim_signing import (
    SIGNED_HEADERS,
    DkimKey,
    KeySignatures,
    Parsed,
    canonicalization,
    make_header_signer,
    parse_field,
)
from publisher.mail.mime import PreparedMessage, Slot
from publisher.mail.wire import canonical, crlf_only

CRLF = b"\r\n"
Piece = bytes | Slot
_FIELD_NAME = re.compile(rb"[\x21-\x7e]+")  # a name parse_field takes without dkimpy


@dataclass(frozen=True)
class _SlotField:
    """A header field holding a slot: its relaxed name and its pieces (no final CRLF)."""

    name: bytes
    pieces: tuple[Piece, ...]

    def relaxed(self, encoded: dict[Slot, bytes]) -> bytes:
        """"name:value" as hashed, value relaxed, for these values."""
        field_bytes = b"".join([p if isinstance(p, bytes) else encoded[p] for p in self.pieces])
        return self.name + b":" + parse_field(field_bytes)[1][0][1]


@dataclass(frozen=True)
class SigningPlan:
    """One prepared message's DKIM inputs with the slots left open (see the module)."""

    include: tuple[bytes, ...]  # the SIGNED_HEADERS present, in that order
    # The included fields as hashed: "name:value" runs of fields without a slot, joined,
    # and the fields with a slot (the last of their name), relaxed per recipient.
    signed_fields: tuple[bytes | _SlotField, ...]
    header_slots: tuple[Slot, ...]
    body_slots: tuple[Slot, ...]
    body_state: hashlib._Hash  # sha256 of the body up to its first slot
    body_rest: tuple[Piece, ...]  # the body from its first slot on

    def parsed(self, encoded: dict[Slot, bytes]) -> Parsed | None:
        """What dkim_signing hashes and signs for these values, or None if a value would
        change the message's shape (then sign the whole message)."""
        if not self._takes(encoded):
            return None
        fields = b"".join([part if isinstance(part, bytes) else part.relaxed(encoded)
                           for part in self.signed_fields])
        hasher = self.body_state.copy()
        for piece in self.body_rest:
            hasher.update(piece if isinstance(piece, bytes) else encoded[piece])
        return Parsed(self.include, fields, base64.b64encode(hasher.digest()))

    def _takes(self, encoded: dict[Slot, bytes]) -> bool:
        body = b"".join([encoded[slot] for slot in self.body_slots])
        if (b"\r" in body or b"\n" in body) and not all(
                crlf_only(encoded[slot]) for slot in self.body_slots):
            return False
        for slot in self.header_slots:
            value = encoded[slot]
            if (b"\r" in value or b"\n" in value) and not (
                    crlf_only(value) and _folds_only(value)):
                return False
        return True


def _folds_only(value: bytes) -> bool:
    """Every CRLF in a header value begins a continuation line."""
    breaks = value.count(CRLF)
    return not breaks or breaks == value.count(b"\r\n ") + value.count(b"\r\n\t")


def signing_plan(prepared: PreparedMessage) -> SigningPlan | None:
    """The message's plan, or None if its shape is not one a plan can take."""
    pieces = _merged(prepared.pieces)
    if not all(crlf_only(p) for p in pieces if isinstance(p, bytes)):
        return None
    split = _header_end(pieces)
    if split is None:
        return None
    index, offset = split
    split_piece = pieces[index]
    assert isinstance(split_piece, bytes)
    head = (*pieces[:index], split_piece[:offset])
    body_first = split_piece[offset:]
    fields = _header_fields(head)
    body = _body(body_first, pieces[index + 1:])
    if fields is None or body is None:
        return None
    return _plan(fields, body)


def _merged(pieces: tuple[Piece, ...]) -> tuple[Piece, ...]:
    merged: list[Piece] = []
    for piece in pieces:
        if isinstance(piece, bytes) and merged and isinstance(merged[-1], bytes):
            merged[-1] = merged[-1] + piece
        elif piece != b"":
            merged.append(piece)
    return tuple(merged)


def _header_end(pieces: tuple[Piece, ...]) -> tuple[int, int] | None:
    """(piece, offset) where the body starts: after the first blank line, which must lie in
    a fixed piece. No slot before it may start a line: there a value could end the header
    block or start a field; elsewhere an allowed value cannot make a blank line, since it
    neither ends with a line end nor starts one that is not folded."""
    at_line_start = True
    for index, piece in enumerate(pieces):
        if isinstance(piece, Slot):
            if at_line_start:
                return None
            continue
        end = piece.find(b"\r\n\r\n")
        if end >= 0:
            return index, end + 4
        at_line_start = piece.endswith(CRLF)
    return None


def _header_fields(head: tuple[Piece, ...]) -> list[tuple[Piece, ...]] | None:
    """The header block's fields (continuation lines included, no final CRLF), as
    dkim_signing's _field_lines groups them; None if a slot could start a line."""
    lines: list[list[Piece]] = [[]]
    for piece in head:
        if isinstance(piece, Slot):
            lines[-1].append(piece)
            continue
        first, *rest = piece.split(CRLF)
        if first:
            lines[-1].append(first)
        lines += [[line] if line else [] for line in rest]
    fields: list[list[Piece]] = []
    for line in lines:
        if not line:
            continue
        start = line[0]
        if isinstance(start, Slot):
            return None
        if start[:1] in (b" ", b"\t") and fields:
            fields[-1] += [CRLF, *line]
        else:
            fields.append(list(line))
    return [tuple(_merged(tuple(f))) for f in fields]


def _body(first: bytes, rest: tuple[Piece, ...]) -> tuple[hashlib._Hash, tuple[Piece, ...]] | None:
    """The body's hash state up to its first slot and the pieces from there on; a body
    that only a whole-message canonicalisation could settle gives None."""
    if not rest:
        if not first.endswith(CRLF) or first.endswith(b"\r\n\r\n"):
            first = canonicalization().canonicalize_body(first)
        return hashlib.sha256(first), ()
    last = rest[-1]
    # Ending in CRLF, not CRLF CRLF, and at least 3 octets long: whatever the values, the
    # body ends with exactly one line end, as `simple` leaves it.
    if not isinstance(last, bytes) or len(last) < 3 or not last.endswith(CRLF) \
            or last.endswith(b"\r\n\r\n"):
        return None
    return hashlib.sha256(first), rest


def _plan(fields: list[tuple[Piece, ...]],
          body: tuple[hashlib._Hash, tuple[Piece, ...]]) -> SigningPlan | None:
    present: set[bytes] = set()
    winners: dict[bytes, bytes | _SlotField] = {}  # relaxed name -> its last field
    header_slots: set[Slot] = set()
    for pieces in fields:
        slots = [p for p in pieces if isinstance(p, Slot)]
        if not slots:
            assert isinstance(pieces[0], bytes)
            raw, relaxed = parse_field(pieces[0])
            present.update(name.lower() for name, _ in raw)
            winners.update(relaxed)
            continue
        start = pieces[0]
        assert isinstance(start, bytes)
        name, colon, _ = start.partition(b":")
        if not colon or _FIELD_NAME.fullmatch(name) is None:
            return None  # the name must be fixed, and one parse_field reads directly
        header_slots.update(slots)
        present.add(name.lower())
        winners[name.lower()] = _SlotField(name.lower(), pieces)
    include = tuple(h for h in SIGNED_HEADERS if h in present)
    signed: list[bytes | _SlotField] = []
    for name in include:
        winner = winners.get(name)
        if winner is None:
            return None  # a name dkimpy's parse reads otherwise: the general path decides
        if isinstance(winner, _SlotField):
            signed.append(winner)
        elif signed and isinstance(signed[-1], bytes):
            signed[-1] += name + b":" + winner
        else:
            signed.append(name + b":" + winner)
    return SigningPlan(
        include=include, signed_fields=tuple(signed), header_slots=tuple(sorted(header_slots)),
        body_slots=tuple(sorted({p for p in body[1] if isinstance(p, Slot)})),
        body_state=body[0], body_rest=body[1])


class PreparedSigner:
    """Every key's DKIM-Signature headers for messages built from prepared messages: each
    prepared message's plan made on first use and kept (a send has a few: an edition and its
    quoted-printable fallback), the whole message signed when a plan cannot be used."""

    def __init__(self, keys: list[DkimKey], clock: Callable[[], datetime]) -> None:
        self._clock = clock
        self._signatures = [KeySignatures(key) for key in keys]
        self._whole = make_header_signer(keys, clock)
        self._plans: dict[int, tuple[PreparedMessage, SigningPlan | None]] = {}

    def headers(self, prepared: PreparedMessage, encoded: dict[Slot, bytes]) -> bytes:
        """The headers that sign `prepared` with these values (as `chosen` encoded them)."""
        plan = self._plan(prepared)
        parsed = None if plan is None else plan.parsed(encoded)
        if parsed is None:
            return self._whole(canonical(prepared.join(encoded)))
        timestamp = int(self._clock().timestamp())
        return b"".join([each.header(parsed, timestamp) for each in self._signatures])

    def _plan(self, prepared: PreparedMessage) -> SigningPlan | None:
        kept = self._plans.get(id(prepared))
        if kept is None or kept[0] is not prepared:
            kept = self._plans[id(prepared)] = (prepared, signing_plan(prepared))
        return kept[1]
