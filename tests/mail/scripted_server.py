"""A raw SMTP server on loopback, written with asyncio streams, for the transaction tests.

It records every byte the client writes after EHLO, answers each command as a script says,
and controls how replies travel: all replies of a pipelined batch in one write, or each in a
write of its own, a reply cut in the middle of a line, or no reply at all.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

# command line (b"RCPT TO:<x@y>") -> reply line, or DROP (close) or SILENT (never answer)
Script = Callable[[bytes], str | None]
DROP = "drop"
SILENT = "silent"

DEFAULT = {b"MAIL": "250 2.1.0 Ok", b"RCPT": "250 2.1.5 Ok", b"DATA": "354 End data with .",
           b".": "250 2.0.0 Ok: queued as X1", b"RSET": "250 2.0.0 Ok", b"QUIT": "221 Bye"}


class ScriptedServer:
    """`pipelining`: offer PIPELINING; `one_write`: answer a batch in one write (else each
    reply in writes of its own, the first cut mid-line); `script` overrides replies."""

    def __init__(self, *, pipelining: bool, one_write: bool = True,
                 eight_bit: bool = True, script: Script | None = None) -> None:
        self.pipelining = pipelining
        self.one_write = one_write
        self.eight_bit = eight_bit
        self.script = script or (lambda line: None)
        self.received = bytearray()  # every byte after EHLO, in order
        self.messages: list[bytes] = []  # what followed DATA, without the final dot
        self.sessions = 0
        self._recipients = 0  # accepted in the current transaction
        self._mail = False  # a MAIL accepted, the transaction open
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.sessions += 1
        try:
            writer.write(b"220 scripted.test ESMTP\r\n")
            await reader.readline()  # EHLO
            offers = [b"scripted.test", b"SIZE 52428800"]
            offers += [b"PIPELINING"] if self.pipelining else []
            offers += [b"8BITMIME"] if self.eight_bit else []
            writer.write(b"".join(b"250-" + each + b"\r\n" for each in offers[:-1])
                         + b"250 " + offers[-1] + b"\r\n")
            await self._converse(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        pending: list[bytes] = []
        while line := await reader.readline():
            self.received += line
            reply = self._answer(line)
            if reply == SILENT:
                await asyncio.sleep(3600)
            if reply == DROP:
                return
            pending.append(reply.encode() + b"\r\n")
            batch_goes_on = self.pipelining and line[:4].upper() in (b"MAIL", b"RCPT")
            if not (self.one_write and batch_goes_on) or reply.startswith("421"):
                await self._write(writer, pending)
                pending = []
            if reply.startswith("354"):
                reply = await self._message(reader, writer)
            if reply.startswith(("421", "221")) or "\r\n421 " in reply:
                return

    async def _message(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> str:
        data = bytearray()
        while (line := await reader.readline()) != b".\r\n":
            if not line:
                raise ConnectionResetError
            data += line
        self.received += data + line
        self.messages.append(bytes(data))
        reply = self._answer(b".\r\n")
        if reply == SILENT:
            await asyncio.sleep(3600)
        if reply == DROP:
            raise ConnectionResetError
        await self._write(writer, [reply.encode() + b"\r\n"])
        return reply

    def _answer(self, line: bytes) -> str:
        """The script's reply, else the default; like a real server, DATA without an accepted
        recipient is a 503 (the script may say otherwise)."""
        verb = line.split(b" ", 1)[0].strip().upper()
        reply = self.script(line)
        if reply is None and verb == b"DATA" and not self._recipients:
            reply = "503 5.5.1 Error: need RCPT command"
        if reply is None and verb == b"RCPT" and not self._mail:
            reply = "503 5.5.1 Error: need MAIL command"
        reply = reply or DEFAULT.get(verb, "502 5.5.2 Error: command not recognized")
        if verb in (b"MAIL", b"RSET", b"."):
            self._recipients = 0
            self._mail = verb == b"MAIL" and reply.startswith("250")
        elif verb == b"RCPT" and reply.startswith("25"):
            self._recipients += 1
        return reply

    async def _write(self, writer: asyncio.StreamWriter, replies: list[bytes]) -> None:
        if self.one_write:
            writer.write(b"".join(replies))
            await writer.drain()
            return
        for reply in replies:  # each reply apart, the line itself cut in two
            for piece in (reply[:2], reply[2:]):
                writer.write(piece)
                await writer.drain()
                await asyncio.sleep(0.02)
