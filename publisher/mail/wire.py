"""A message as it travels after DATA: CRLF line ends and dot-stuffing already settled.

The prepared send builds these bytes once per recipient from pieces stuffed once per send
(see `mime.PreparedMessage.outgoing`), so the SMTP transaction writes them as they are.
`outgoing_from` is the one-off path (a confirmation, a test copy): it does to any message
what an SMTP client does before DATA, once.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_LINE_END = re.compile(rb"\r\n|\n|\r(?!\n)")
_LINE_START_DOT = re.compile(rb"(?m)^\.")


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
    """Any message made ready for DATA, the slow way (one regex pass each)."""
    text = canonical(message)
    return Outgoing(_LINE_START_DOT.sub(b"..", text), len(text), not text.isascii())


def unstuffed(outgoing: Outgoing) -> bytes:
    """The message as the receiver stores it (dot-stuffing undone)."""
    data = outgoing.data
    if data.startswith(b".."):
        data = data[1:]
    return data.replace(b"\r\n..", b"\r\n.")
