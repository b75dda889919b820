"""One SMTP mail transaction written straight onto the wire of a session aiosmtplib opened.

aiosmtplib connects, says EHLO, starts TLS and logs in; then `Session.take_over` moves the
asyncio transport to this module's reply reader. Two reasons: aiosmtplib's protocol reads one
reply per write and drops a second reply already received (so it cannot pipeline, RFC 2920),
and its DATA path re-scans the message with regexes, while an `Outgoing` is already CRLF and
dot-stuffed and is written as it is.

Rule: this class is the only user of aiosmtplib internals, and it uses two: the attribute
`SMTP.transport` (the asyncio transport after login; every version from 3.0 has it), and
that `SMTP` is never used again once the transport's protocol is replaced. The MAIL line is
the one `SMTP.sendmail` writes: `quote_address` from `aiosmtplib.email` (a plain dot-atom
address, which it returns as it is in angle brackets, skips its parser), `size=N` first when
SIZE is offered, then the caller's options. Transport failures raise `OSError` (a dropped
connection, a malformed reply) or `TimeoutError`; the session is then closed and useless.
"""

from __future__ import annotations

import asyncio
import re
from collections import deque

import aiosmtplib
from aiosmtplib.email import quote_address

from publisher.mail.wire import Outgoing

# aiosmtplib's bound on one reply (MAX_LINE_LENGTH * 4): an EHLO is a few KB.
MAX_REPLY = 32 * 1024
# As aiosmtplib's COMMAND_INJECTION_REGEX: no C0 control or DEL on a command line.
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")
# An address `quote_address` gives back unchanged: dot-atoms of letters, digits, _ + -.
_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*"
                            r"@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")

SMTPReply = tuple[int, str]


class _ReplyReader(asyncio.Protocol):
    """Complete (multi-line) replies parsed in order from what arrived, handed out one by one."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.replies: deque[SMTPReply] = deque()
        self.error: OSError | None = None
        self.waiter: asyncio.Future[None] | None = None

    def data_received(self, data: bytes) -> None:  # noqa: V105 - asyncio calls it
        self.buffer += data
        try:
            while (reply := self._parse()) is not None:
                self.replies.append(reply)
            if len(self.buffer) > MAX_REPLY:
                raise ConnectionError(f"reply longer than {MAX_REPLY} bytes")
        except ConnectionError as exc:
            self._fail(exc)
        self._wake()

    def _parse(self) -> SMTPReply | None:
        """The first complete reply in the buffer, removed from it; None if none is."""
        lines: list[bytes] = []
        start = 0
        while (end := self.buffer.find(b"\n", start)) != -1:
            line = bytes(self.buffer[start:end + 1])
            start = end + 1
            if start > MAX_REPLY:
                raise ConnectionError(f"reply longer than {MAX_REPLY} bytes")
            if not line[:3].isdigit():
                raise ConnectionError(f"malformed reply line: {line[:80]!r}")
            lines.append(line)
            if line[3:4] != b"-":
                del self.buffer[:start]
                # aiosmtplib's text: each line's text stripped, joined by newlines
                text = b"\n".join(each[4:].strip(b" \t\r\n") for each in lines)
                return int(lines[0][:3]), text.decode("utf-8", "surrogateescape")
        return None

    def eof_received(self) -> bool:  # noqa: V105 - asyncio calls it
        self._fail(ConnectionResetError("server closed the connection"))
        self._wake()
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:  # noqa: V105 - asyncio calls it
        self._fail(ConnectionResetError(f"connection lost: {exc}" if exc else "connection lost"))
        self._wake()

    def _fail(self, error: OSError) -> None:
        if self.error is None:
            self.error = error

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    async def next_reply(self, timeout: float) -> SMTPReply:
        """The next reply in order; raises the connection's error or TimeoutError."""
        while not self.replies:
            if self.error is not None:
                raise self.error
            loop = asyncio.get_running_loop()
            waiter = self.waiter = loop.create_future()
            expiry = loop.call_later(timeout, _expire, waiter, timeout)  # cheaper than wait_for
            try:
                await waiter
            finally:
                expiry.cancel()
                self.waiter = None
        return self.replies.popleft()


def _expire(waiter: asyncio.Future[None], timeout: float) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError(f"no reply from the server within {timeout:g} s"))


class Session:
    """An SMTP session after login: runs transactions, pipelined when the server offers it."""

    def __init__(self, transport: asyncio.WriteTransport, reader: _ReplyReader,
                 extensions: set[str], timeout: float) -> None:
        self.transport = transport
        self.reader = reader
        self.extensions = extensions
        self.timeout = timeout
        self._sender: tuple[str | None, bytes] = (None, b"")  # last sender, quoted

    @classmethod
    def take_over(cls, client: aiosmtplib.SMTP, timeout: float) -> Session:
        """Move a logged-in aiosmtplib connection's transport to our reader; `client` is
        spent after this (never call it again)."""
        transport = client.transport
        if not isinstance(transport, asyncio.WriteTransport) or transport.is_closing():
            raise ConnectionResetError("connection lost before the first transaction")
        extensions = {name for name in ("pipelining", "size", "8bitmime")
                      if client.supports_extension(name)}
        reader = _ReplyReader()
        transport.set_protocol(reader)
        return cls(transport, reader, extensions, timeout)

    @property
    def pipelining(self) -> bool:
        return "pipelining" in self.extensions

    @property
    def is_open(self) -> bool:
        """Usable for a transaction: connected, and nothing said since the last reply (a
        server closing an idle connection says 421 first)."""
        return (self.reader.error is None and not self.reader.replies
                and not self.transport.is_closing())

    def _mail_command(self, envelope_from: str, message: Outgoing, options: list[str]) -> bytes:
        """MAIL FROM exactly as aiosmtplib's sendmail writes it (size= first, then options)."""
        if "size" in self.extensions:
            options = [f"size={message.size}", *options]
        if self._sender[0] != envelope_from:  # the same for a whole send: parse it once
            self._sender = envelope_from, quoted(envelope_from).encode("ascii")
        return _command(b"MAIL", b"FROM:" + self._sender[1],
                        *(option.encode("ascii") for option in options))

    async def send(self, envelope_from: str, recipient: str, message: Outgoing,
                   options: list[str]) -> SMTPReply:
        """One transaction for one recipient: the reply that decided it (250 and the
        server's text when taken; else the first refusal: MAIL, RCPT, DATA or the end)."""
        commands = [self._mail_command(envelope_from, message, options),
                    _command(b"RCPT", b"TO:" + quoted(recipient).encode("ascii")),
                    b"DATA\r\n"]
        if not self.is_open:
            raise ConnectionResetError("connection lost between transactions")
        if self.pipelining:
            self.transport.write(b"".join(commands))
            refused = await self._read_envelope_replies()
        else:
            refused = await self._lock_step(commands)
        if refused is not None:
            return refused
        self.transport.write(message.data)  # as it is: never re-scanned, nor joined to the dot
        self.transport.write(b".\r\n")
        code, text = await self._reply()
        if code not in (250, 421):
            await self._reset()
        return code, text

    async def _lock_step(self, commands: list[bytes]) -> SMTPReply | None:
        """MAIL, RCPT, DATA one reply at a time; the first refusal (reset after) or None."""
        for command, accepted in zip(commands, _ACCEPTED, strict=True):
            self.transport.write(command)
            code, text = await self._reply()
            if code not in accepted:
                if code != 421:
                    await self._reset()
                return code, text
        return None

    async def _read_envelope_replies(self) -> SMTPReply | None:
        """The three pipelined replies in order: the first refusal or None. After a refusal
        the rest are read, an accepted DATA is ended with an empty message (RFC 2920 3.1),
        and the envelope is reset, so the connection stays usable; a 421 ends it."""
        refused: SMTPReply | None = None
        for accepted in _ACCEPTED:
            code, text = await self._reply()
            if code == 421:  # the server is closing: nothing more will come
                if refused is not None:
                    self.abort()
                return refused or (code, text)
            if refused is None and code not in accepted:
                refused = code, text
            elif refused is not None and code == 354:
                self.transport.write(b".\r\n")
                await self._reply()
        if refused is not None:
            await self._reset()
        return refused

    async def _reset(self) -> None:
        """RSET after a refusal, as sendmail does; its own failure leaves the session closed
        (the refusal stays the transaction's answer)."""
        try:
            self.transport.write(b"RSET\r\n")
            code, _ = await self._reply()
        except (OSError, TimeoutError):
            code = None
        if code != 250:
            self.abort()

    async def _reply(self) -> SMTPReply:
        return await self.reader.next_reply(self.timeout)

    def abort(self) -> None:
        """Close at once, no QUIT: after a 421, a timeout or a dropped connection."""
        self.transport.abort()

    async def quit(self, timeout: float = 5.0) -> None:
        """QUIT within `timeout` seconds, then close the transport whatever happened."""
        try:
            if self.is_open:
                self.transport.write(b"QUIT\r\n")
                await self.reader.next_reply(timeout)
        except (OSError, TimeoutError):
            pass  # closing anyway: a server that does not answer QUIT changes nothing
        finally:
            self.transport.close()


# Replies that let a transaction go on, per command (as aiosmtplib: RCPT takes 250 and 251).
_ACCEPTED = ((250,), (250, 251), (354,))


def quoted(address: str) -> str:
    """`<address>` as aiosmtplib's `quote_address` writes it (its parser only when needed)."""
    if _PLAIN_ADDRESS.fullmatch(address):
        return f"<{address}>"
    return quote_address(address)


def _command(*args: bytes) -> bytes:
    """A command line as aiosmtplib writes it; refuses control characters as it does."""
    for arg in args:
        if _CONTROL.search(arg):
            raise ValueError("Command arg contains a prohibited control character")
    return b" ".join(args) + b"\r\n"
