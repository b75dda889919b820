"""Through a real Postfix: each message built from the wire form (8bit and quoted-printable,
names and addresses that put a "." at the start of a line or need RFC 2047) is stored byte
for byte as the message before dot-stuffing, after Postfix's own trace headers, and both
DKIM signatures verify on what was stored."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from publisher.config import Config
from publisher.mail.mime import PreparedMessage, Slot
from publisher.mail.smtp import Connection, Kind, deliver
from publisher.mail.wire import Outgoing, unstuffed
from tests.deliverability.postfix import Postfix
from tests.deliverability.test_postfix_dkim_spam import dkim_site, verify_both_signatures
from tests.deliverability.test_wire_bytes import DOT_LOCALS, DOT_NAMES, random_names, seed_builder
from tests.sending.helpers import SECRETS, smtp_site
from tests.servers import free_port

pytestmark = pytest.mark.postfix

TRACE_HEADERS = (b"Return-Path:", b"X-Original-To:", b"Delivered-To:", b"Received:", b" ",
                 b"\t")
# Postfix quotes a local part that is not a dot-atom (".bob", "a..b", "x.") in To, which
# changes a signed header; only dot-atoms go through here (check_address accepts the others).
DOT_ATOMS = [local for local in DOT_LOCALS if re.fullmatch(r"[^.]+(\.[^.]+)*", local)]


def crafted() -> list[Outgoing]:
    """Values that start a body line with "." (the seed edition starts lines only with its
    URLs and, with a non-dot-atom address, the address), unsigned."""
    outgoing = []
    for number, value in enumerate([".Bob", "..", ".", ".\r\n.", "a\r\n..b"]):
        prepared = PreparedMessage((
            f"From: news@example.org\r\nTo: reader@example.net\r\nSubject: dots\r\n"
            f"Date: Sun, 16 Jun 2024 01:00:00 +0000\r\n"
            f"Message-ID: <crafted-{number}@example.org>\r\n\r\n".encode(), Slot.TEXT_NAME,
            b"\r\n", Slot.TEXT_EMAIL, b" after\r\n.\r\n..end\r\n"),
            eight_bit_slots=frozenset(Slot))
        values = {slot: value for slot in Slot}
        outgoing.append(prepared.outgoing(values)[0])
    return outgoing


def rows() -> list[tuple[int, int, str, str]]:
    people = [(f"u{n}@example.net", name) for n, name in enumerate(DOT_NAMES + random_names(12))]
    people += [(f"{local}@example.net", name) for local, name in zip(DOT_ATOMS, DOT_NAMES,
                                                                     strict=False)]
    return [(n, n + 1, email, name) for n, (email, name) in enumerate(people)]


async def send_all(config: Config, messages: list[Outgoing]) -> None:
    connection = Connection(config.settings.smtp, SECRETS)
    try:
        for message in messages:
            reply = await deliver(connection, "news@example.org", "reader@example.net", message)
            assert reply.kind is Kind.SENT, reply
    finally:
        await connection.close()


def message_id(message: bytes) -> bytes:
    found = re.search(rb"^Message-ID: (\S+)\r?$", message, re.M | re.I)
    assert found
    return found.group(1)


def test_postfix_stores_the_unstuffed_wire_bytes_and_dkim_verifies(
    seed_config: Config, tmp_path: Path
) -> None:
    with Postfix(free_port()) as postfix:
        config = dkim_site(smtp_site(seed_config, postfix.port), tmp_path)
        sent: dict[bytes, Outgoing] = {}
        for offset, encoding in ((0, "8bit"), (10_000, "quoted-printable")):
            builder = seed_builder(config, encoding)
            for delivery, subscriber, email, name in rows():
                outgoing = builder.build((delivery, subscriber + offset, email, name))
                sent[message_id(unstuffed(outgoing))] = outgoing
        sent |= {message_id(unstuffed(outgoing)): outgoing for outgoing in crafted()}
        asyncio.run(send_all(config, list(sent.values())))
        stored = postfix.delivered(len(sent), timeout=120)
    assert sum(b"\r\n.." in o.data for o in sent.values()) >= 15  # dots were stuffed
    assert sum(b"DKIM-Signature:" in raw for raw in stored) == len(stored) - len(crafted())
    assert {message_id(raw) for raw in stored} == set(sent)
    for raw in stored:
        expected = unstuffed(sent[message_id(raw)]).replace(b"\r\n", b"\n")  # Maildir: LF
        assert raw.endswith(expected)
        trace = raw[: len(raw) - len(expected)]
        assert all(line.startswith(TRACE_HEADERS) for line in trace.splitlines()), trace
        if b"DKIM-Signature:" in raw:
            verify_both_signatures(config, raw)
