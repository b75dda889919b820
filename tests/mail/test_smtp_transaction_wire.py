"""The SMTP transaction against a raw server that records the client's bytes and controls how
replies travel: the bytes equal aiosmtplib's sendmail, pipelined or not, and each refusal,
421, drop and silence gives the reply it gave before, the connection staying usable."""

from __future__ import annotations

import asyncio

import aiosmtplib
import pytest

from publisher.mail.smtp import Kind, Reply, deliver
from publisher.mail.wire import unstuffed
from tests.mail.messages import RECIPIENT, SENDER, connection, message
from tests.mail.scripted_server import DROP, SILENT, Script, ScriptedServer


def first(verb: bytes, reply: str) -> Script:
    """A script refusing the first `verb` command with `reply` and accepting the rest."""
    seen = [0]

    def answer(line: bytes) -> str | None:
        if line.upper().startswith(verb):
            seen[0] += 1
            return reply if seen[0] == 1 else None
        return None
    return answer


async def send_two(server: ScriptedServer, command_timeout: float = 10.0) -> list[Reply]:
    """Two messages on one pooled connection, then closed."""
    pool = connection(server.port, command_timeout)
    replies = [await deliver(pool, SENDER, f"reader{n}@example.net", message(str(n)))
               for n in range(2)]
    await pool.close()
    return replies


async def aiosmtplib_bytes() -> bytes:
    """What aiosmtplib's sendmail writes for the same two messages (it never pipelines)."""
    async with ScriptedServer(pipelining=False) as server:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=server.port, use_tls=False,
                                 start_tls=False)
        await client.connect()
        await client.ehlo()
        for n in range(2):
            await client.sendmail(SENDER, [f"reader{n}@example.net"],
                                  unstuffed(message(str(n))), mail_options=["BODY=8BITMIME"])
        await client.quit()
    return bytes(server.received)


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "lock-step"])
async def test_the_client_writes_exactly_what_aiosmtplib_sendmail_writes(
        pipelining: bool) -> None:
    async with ScriptedServer(pipelining=pipelining) as server:
        assert [r.kind for r in await send_two(server)] == [Kind.SENT, Kind.SENT]
    expected = await aiosmtplib_bytes()
    assert bytes(server.received) == expected
    assert expected.startswith(b"MAIL FROM:<bounces+issue-7@example.org> size=%d BODY=8BITMIME"
                               b"\r\nRCPT TO:<reader0@example.net>\r\nDATA\r\n"
                               % message("0").size)
    assert server.messages[0] == message("0").data  # dot-stuffed once, sent as it is
    assert b"\r\n..a line that starts with a dot\r\n...two dots\r\n..\r\n" in server.messages[0]


@pytest.mark.parametrize("one_write", [True, False], ids=["one-write", "cut-into-pieces"])
async def test_pipelined_replies_are_read_in_order_however_they_arrive(one_write: bool) -> None:
    # In one-write mode the server answers MAIL only once DATA has come: a client that waited
    # for each reply would time out here.
    async with ScriptedServer(pipelining=True, one_write=one_write) as server:
        replies = await send_two(server, command_timeout=5.0)
    assert replies == [Reply(250, "2.0.0 Ok: queued as X1", Kind.SENT)] * 2
    assert server.sessions == 1


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "lock-step"])
@pytest.mark.parametrize(("verb", "refusal", "kind"), [
    (b"RCPT", "550 5.1.1 <reader0@example.net>: mailbox unknown", Kind.PERMANENT),
    (b"RCPT", "450 4.2.0 <reader0@example.net>: greylisted", Kind.TEMPORARY),
    (b"MAIL", "553 5.7.1 sender refused", Kind.PERMANENT),
    (b"DATA", "451 4.3.0 try later", Kind.TEMPORARY),
    (b".", "554 5.7.1 message refused", Kind.PERMANENT),
])
async def test_a_refusal_is_the_result_and_the_next_message_goes_through(
        pipelining: bool, verb: bytes, refusal: str, kind: Kind) -> None:
    async with ScriptedServer(pipelining=pipelining, script=first(verb, refusal)) as server:
        replies = await send_two(server)
    code, text = refusal.split(" ", 1)
    assert replies[0] == Reply(int(code), text, kind)
    assert replies[1].kind is Kind.SENT
    assert server.sessions == 1 and len(server.messages) == 1 + (verb == b".")
    assert server.received.count(b"RSET\r\n") == 1  # the envelope reset, as sendmail does


async def test_a_pipelined_data_accepted_after_a_refused_rcpt_gets_an_empty_message() -> None:
    # RFC 2920 3.1: a server that says 354 with no valid recipient gets a lone dot.
    refuse_rcpt = first(b"RCPT", "550 5.1.1 no")

    def accept_data_anyway(line: bytes) -> str | None:
        return "354 go ahead" if line == b"DATA\r\n" else refuse_rcpt(line)
    async with ScriptedServer(pipelining=True, script=accept_data_anyway) as server:
        replies = await send_two(server)
    assert replies[0] == Reply(550, "5.1.1 no", Kind.PERMANENT)
    assert replies[1].kind is Kind.SENT
    assert b"DATA\r\n.\r\nRSET\r\nMAIL FROM:" in server.received


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "lock-step"])
@pytest.mark.parametrize("verb", [b"MAIL", b"RCPT", b"."])
async def test_421_closes_the_connection_and_the_next_message_reconnects(
        pipelining: bool, verb: bytes) -> None:
    script = first(verb, "421 4.3.2 shutting down")
    async with ScriptedServer(pipelining=pipelining, script=script) as server:
        replies = await send_two(server)
    assert replies[0] == Reply(421, "4.3.2 shutting down", Kind.TEMPORARY)
    assert replies[1].kind is Kind.SENT
    assert server.sessions == 2
    assert b"RSET" not in server.received and b"QUIT" in server.received  # QUIT on the 2nd


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "lock-step"])
async def test_a_server_closing_an_idle_connection_costs_the_next_message_nothing(
        pipelining: bool) -> None:
    # Postfix says "421 4.4.2 Error: timeout exceeded" to an idle client, then closes.
    idle = first(b".", "250 2.0.0 Ok\r\n421 4.4.2 Error: timeout exceeded")
    async with ScriptedServer(pipelining=pipelining, script=idle) as server:
        replies = await send_two(server)
    assert [reply.kind for reply in replies] == [Kind.SENT, Kind.SENT]
    assert server.sessions == 2 and len(server.messages) == 2


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "lock-step"])
@pytest.mark.parametrize("verb", [b"RCPT", b"."])
async def test_a_dropped_connection_is_temporary_and_the_next_message_reconnects(
        pipelining: bool, verb: bytes) -> None:
    async with ScriptedServer(pipelining=pipelining, script=first(verb, DROP)) as server:
        replies = await send_two(server)
    assert replies[0].code is None and replies[0].kind is Kind.TEMPORARY
    assert replies[0].message.startswith("connection: ConnectionResetError")
    assert replies[1].kind is Kind.SENT
    assert server.sessions == 2


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "lock-step"])
async def test_a_server_that_never_replies_times_out_as_temporary(pipelining: bool) -> None:
    async with ScriptedServer(pipelining=pipelining, script=first(b".", SILENT)) as server:
        started = asyncio.get_running_loop().time()
        replies = await send_two(server, command_timeout=0.5)
        elapsed = asyncio.get_running_loop().time() - started
    assert replies[0] == Reply(None, "connection: TimeoutError: no reply from the server "
                                     "within 0.5 s", Kind.TEMPORARY)
    assert replies[1].kind is Kind.SENT and server.sessions == 2
    assert elapsed < 30  # the timeout, not the server's hour of silence


async def test_a_reply_longer_than_the_cap_is_a_connection_error() -> None:
    endless = "\r\n".join(["250-" + "x" * 1000] * 40 + ["250 ok"])
    async with ScriptedServer(pipelining=True, script=first(b"MAIL", endless)) as server:
        replies = await send_two(server)
    assert replies[0].kind is Kind.TEMPORARY
    assert replies[0].message == "connection: ConnectionError: reply longer than 32768 bytes"
    assert replies[1].kind is Kind.SENT and server.sessions == 2


async def test_an_8bit_message_to_a_server_without_8bitmime_never_reaches_the_wire() -> None:
    async with ScriptedServer(pipelining=True, eight_bit=False) as server:
        pool = connection(server.port)
        reply = await deliver(pool, SENDER, RECIPIENT, message())
        await pool.close()
    assert reply.code == 450 and reply.kind is Kind.TEMPORARY
    assert "server does not offer 8BITMIME" in reply.message
    assert bytes(server.received) == b"QUIT\r\n"


async def test_an_address_with_a_control_character_is_refused_before_anything_is_written(
        ) -> None:
    async with ScriptedServer(pipelining=True) as server:
        pool = connection(server.port)
        with pytest.raises(ValueError):
            await deliver(pool, SENDER, "read\x00er@example.net", message())
        await pool.close()
    assert bytes(server.received) == b"QUIT\r\n"
