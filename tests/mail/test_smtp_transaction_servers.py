"""The SMTP transaction against real servers on loopback: aiosmtpd with and without
PIPELINING, Postfix's smtp-sink (pipelining, lock-step, refusals, 421, drops) and Postfix:
each stores the exact message, and a refusal is that recipient's result while the next
message on the same connection still goes through."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from publisher.mail.smtp import Connection, Kind, Reply, deliver
from publisher.mail.wire import unstuffed
from tests.deliverability.postfix import Postfix
from tests.mail.messages import SENDER, connection, message
from tests.servers import free_port, smtp_sink


class Recorder:
    """aiosmtpd handler: PIPELINING offered or not; refuses by the address's first word."""

    def __init__(self, pipelining: bool) -> None:
        self.pipelining = pipelining
        self.sessions = 0
        self.stored: list[tuple[str, bytes]] = []

    async def handle_EHLO(self, server: Any, session: Any, envelope: Any,  # noqa: N802, V105
                          hostname: str, responses: list[str]) -> list[str]:
        session.host_name = hostname  # noqa: V101 - the new-style hook must set it
        self.sessions += 1
        if self.pipelining:
            responses.insert(-1, "250-PIPELINING")  # before the last line, "250 HELP"
        return responses

    async def handle_MAIL(self, server: Any, session: Any, envelope: Any,  # noqa: N802, V105
                          address: str, options: list[str]) -> str:
        if address.startswith("refused"):
            return "553 5.7.1 sender refused"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any,  # noqa: N802, V105
                          address: str, options: list[str]) -> str:
        if address.startswith("unknown"):
            return "550 5.1.1 mailbox unknown"
        if address.startswith("greylisted"):
            return "450 4.2.0 greylisted"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802, V105
        content = envelope.original_content
        if b"REFUSE-ME" in content:
            return "554 5.7.1 message refused"
        self.stored.append((envelope.rcpt_tos[0], content))
        return "250 2.0.0 OK: queued"


@pytest.fixture(params=[True, False], ids=["pipelined", "lock-step"])
def aiosmtpd_server(request: pytest.FixtureRequest) -> Iterator[tuple[Recorder, int]]:
    recorder = Recorder(pipelining=request.param)
    controller = Controller(recorder, hostname="127.0.0.1", port=free_port(),
                            decode_data=False)
    controller.start()
    try:
        yield recorder, int(controller.port)
    finally:
        controller.stop()


async def test_aiosmtpd_stores_the_exact_message_pipelined_or_not(
        aiosmtpd_server: tuple[Recorder, int]) -> None:
    recorder, port = aiosmtpd_server
    pool = connection(port)
    replies = [await deliver(pool, SENDER, f"reader{n}@example.net", message(str(n)))
               for n in range(3)]
    assert pool.session is not None and pool.session.pipelining is recorder.pipelining
    await pool.close()
    assert [reply.kind for reply in replies] == [Kind.SENT] * 3
    assert recorder.stored == [(f"reader{n}@example.net", unstuffed(message(str(n))))
                               for n in range(3)]
    assert b"\r\n.a line that starts with a dot\r\n..two dots\r\n.\r\n" in recorder.stored[0][1]


async def test_aiosmtpd_refusals_are_each_recipients_result_on_one_connection(
        aiosmtpd_server: tuple[Recorder, int]) -> None:
    recorder, port = aiosmtpd_server
    pool = connection(port)
    sends = [(SENDER, "unknown@example.net", ""), (SENDER, "greylisted@example.net", ""),
             ("refused@example.org", "reader@example.net", ""),
             (SENDER, "reader@example.net", "REFUSE-ME"), (SENDER, "last@example.net", "")]
    replies = [await deliver(pool, sender, recipient, message(marker))
               for sender, recipient, marker in sends]
    await pool.close()
    assert replies == [Reply(550, "5.1.1 mailbox unknown", Kind.PERMANENT),
                       Reply(450, "4.2.0 greylisted", Kind.TEMPORARY),
                       Reply(553, "5.7.1 sender refused", Kind.PERMANENT),
                       Reply(554, "5.7.1 message refused", Kind.PERMANENT),
                       Reply(250, "2.0.0 OK: queued", Kind.SENT)]
    assert [recipient for recipient, _ in recorder.stored] == ["last@example.net"]
    assert recorder.sessions == 1


@pytest.mark.postfix
@pytest.mark.parametrize("options", [(), ("-p",)], ids=["pipelined", "lock-step"])
async def test_smtp_sink_receives_the_exact_message(options: tuple[str, ...]) -> None:
    # Not pytest's tmp_path: smtp-sink writes as the postfix user, who cannot reach it.
    dump = Path(tempfile.mkdtemp(prefix="publisher-sink-"))
    dump.chmod(0o777)
    with smtp_sink(*options, "-d", f"{dump}/%M.") as port:
        pool = connection(port)
        replies = [await deliver(pool, SENDER, f"reader{n}@example.net", message(str(n)))
                   for n in range(2)]
        assert pool.session is not None and pool.session.pipelining is (options == ())
        await pool.close()
    assert [reply.kind for reply in replies] == [Kind.SENT] * 2
    dumps = sorted(path.read_bytes() for path in dump.iterdir())
    shutil.rmtree(dump)
    # smtp-sink writes its own X- headers first and lines ending in LF
    expected = sorted(unstuffed(message(str(n))).replace(b"\r\n", b"\n") for n in range(2))
    assert [dump[dump.index(b"From: Digest"):].rstrip(b"\n") for dump in dumps] == \
        [each.rstrip(b"\n") for each in expected]


async def _two(port: int) -> tuple[list[Reply], Connection]:
    pool = connection(port)
    replies = [await deliver(pool, SENDER, f"reader{n}@example.net", message(str(n)))
               for n in range(2)]
    return replies, pool


@pytest.mark.postfix
@pytest.mark.parametrize(("options", "code", "kind"), [
    (("-f", "RCPT"), 500, Kind.PERMANENT), (("-r", "RCPT"), 450, Kind.TEMPORARY),
    (("-f", "MAIL"), 500, Kind.PERMANENT), (("-f", "."), 500, Kind.PERMANENT),
    (("-Q", "RCPT"), 421, Kind.TEMPORARY), (("-Q", "DATA"), 421, Kind.TEMPORARY),
])
async def test_smtp_sink_refusals_give_the_servers_reply_every_time(
        options: tuple[str, ...], code: int, kind: Kind) -> None:
    with smtp_sink(*options) as port:
        replies, pool = await _two(port)
        await pool.close()
    assert [(reply.code, reply.kind) for reply in replies] == [(code, kind)] * 2


@pytest.mark.postfix
@pytest.mark.parametrize("command", ["RCPT", "."])
async def test_smtp_sink_dropping_the_connection_is_temporary_each_time(command: str) -> None:
    with smtp_sink("-q", command) as port:
        replies, pool = await _two(port)
        await pool.close()
    assert all(reply.code is None and reply.kind is Kind.TEMPORARY for reply in replies)
    assert all(reply.message.startswith("connection: ") for reply in replies)


@pytest.mark.postfix
@pytest.mark.skipif(os.geteuid() != 0, reason="a private Postfix needs root to start")
async def test_postfix_delivers_the_exact_message_over_a_pipelined_connection() -> None:
    with Postfix(free_port()) as postfix:
        pool = connection(postfix.port)
        replies = [await deliver(pool, SENDER, f"reader{n}@example.net", message(str(n)))
                   for n in range(2)]
        assert pool.session is not None and pool.session.pipelining
        await pool.close()
        delivered = postfix.delivered(2)
    assert [reply.kind for reply in replies] == [Kind.SENT] * 2
    # Postfix adds Message-Id and Date headers: the bodies must be the same bytes
    bodies = sorted(each.split(b"\n\n", 1)[1] for each in delivered)
    assert bodies == sorted(unstuffed(message(str(n))).replace(b"\r\n", b"\n")
                            .split(b"\n\n", 1)[1] for n in range(2))
    assert all(b"\nSubject: " in each and b"\nFrom: Digest <" in each for each in delivered)
