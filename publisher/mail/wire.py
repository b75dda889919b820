"""A message as it travels after DATA: CRLF line ends and dot-stuffing already settled.

The prepared send builds these bytes once per recipient from pieces stuffed once per send
(see `mime.PreparedMessage.outgoing`), so the SMTP transaction writes them as they are.
DKIM-Signature headers go in front with `with_headers`, which stuffs only them.
`outgoing_from` is the one-off path (a confirmation, a test copy): it does to any message
what an SMTP client does before DATA, once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE_END = re.compile(rb"\r\n|\n|\r(?!\n)")


@dataclass(frozen=True)
class Outgoing:
    """`data`: the message as written after DATA (CRLF, dot-stuffed, ending in CRLF, without
    the final ".\\r\\n"). `size`: its length before dot-stuffing (the SIZE parameter, RFC 1870,
    as aiosmtplib counts it). `eight_bit`: it holds non-ASCII octets (BODY=8BITMIME)."""

    data: bytes
    size: int
    eight_bit: bool


def canonical(message: bytes) -> bytes:
    """CRLF line ends and a final CRLF: the message a signature and SIZE are computed on."""
    message = _LINE_END.sub(b"\r\n", message)
    return message if message.endswith(b"\r\n") else message + b"\r\n"


def outgoing_from(message: bytes) -> Outgoing:
    """Any message made ready for DATA, the slow way (line ends normalised by a regex pass)."""
    text = canonical(message)
    return Outgoing(stuff(text, True), len(text), not text.isascii())


def crlf_only(data: bytes) -> bool:
    """Every CR and LF in data belongs to a CRLF pair."""
    if b"\r" not in data and b"\n" not in data:
        return True
    pairs = data.count(b"\r\n")
    return data.count(b"\r") == pairs == data.count(b"\n")


def stuff(data: bytes, at_line_start: bool) -> bytes:
    """Double each "." that starts a line of CRLF-only data (RFC 5321 4.5.2); its first
    octet starts a line only if at_line_start."""
    if b"\n." in data:
        data = data.replace(b"\n.", b"\n..")
    return b"." + data if at_line_start and data[:1] == b"." else data


def with_headers(headers: bytes, outgoing: Outgoing) -> Outgoing:
    """The message with header lines (e.g. DKIM-Signature) put in front; only they are
    stuffed, the rest is not scanned again."""
    if not (headers.endswith(b"\r\n") and crlf_only(headers)):
        headers = canonical(headers)
    return Outgoing(stuff(headers, True) + outgoing.data, len(headers) + outgoing.size,
                    outgoing.eight_bit or not headers.isascii())


def unstuffed(outgoing: Outgoing) -> bytes:
    """The message as the receiver stores it (dot-stuffing undone)."""
    data = outgoing.data
    if data.startswith(b".."):
        data = data[1:]
    return data.replace(b"\r\n..", b"\r\n.")
