"""A scripted SMTP server on loopback: answers each recipient as a rule says, attempt by attempt.

Faults: temporary refusal (451), permanent refusal (550), 421 with disconnect, message refused
after DATA (554), connection dropped after DATA, and a stall longer than the client's timeout.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Callable

# (recipient, attempt number from 1) -> behaviour: ok, 451, 550, 421, 554, drop or stall
Rule = Callable[[str, int], str]


class FaultySMTP:
    """Runs in its own thread and event loop; `delivered` counts accepted messages."""

    def __init__(self, rule: Rule, stall_seconds: float = 5.0, delay: float = 0.0) -> None:
        self.rule = rule
        self.delay = delay
        self.stall_seconds = stall_seconds
        self.attempts: Counter[str] = Counter()
        self.delivered: Counter[str] = Counter()
        self.message_ids: dict[str, list[str]] = {}
        self.languages: dict[str, list[str]] = {}  # each copy's Content-Language
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._server: asyncio.base_events.Server | None = None

    def __enter__(self) -> FaultySMTP:
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    async def _shutdown(self) -> None:
        """Stop listening and end the sessions still open (a stalled one, say)."""
        if self._server is not None:
            self._server.close()
        sessions = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for session in sessions:
            session.cancel()
        await asyncio.gather(*sessions, return_exceptions=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._session, "127.0.0.1", 0))
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        def reply(line: str) -> None:
            writer.write(line.encode() + b"\r\n")

        reply("220 faulty.test ESMTP")
        recipient, behaviour = "", "ok"
        try:
            while line := await reader.readline():
                verb = line.decode(errors="replace").strip().split(" ")[0].upper()
                if verb in ("EHLO", "HELO"):
                    writer.write(b"250-faulty.test\r\n250-8BITMIME\r\n250 SIZE 52428800\r\n")
                elif verb == "MAIL":
                    reply("250 2.1.0 Ok")
                elif verb == "RCPT":
                    recipient = line.decode().split("<", 1)[1].split(">", 1)[0]
                    self.attempts[recipient] += 1
                    behaviour = self.rule(recipient, self.attempts[recipient])
                    if behaviour == "421":
                        reply("421 4.3.2 Service shutting down")
                        await writer.drain()
                        writer.close()
                        return
                    reply({"451": "451 4.7.1 Try again later",
                           "550": "550 5.1.1 No such user"}.get(behaviour, "250 2.1.5 Ok"))
                elif verb == "DATA":
                    reply("354 End data with <CR><LF>.<CR><LF>")
                    await writer.drain()
                    data = await self._read_data(reader)
                    if data is None:  # the client went away mid-DATA: nothing was delivered
                        writer.close()
                        return
                    if behaviour == "drop":
                        writer.close()
                        return
                    if self.delay:
                        await asyncio.sleep(self.delay)
                    if behaviour == "stall":
                        await asyncio.sleep(self.stall_seconds)
                    if behaviour == "554":
                        reply("554 5.7.1 Message refused")
                    else:
                        self.delivered[recipient] += 1
                        self.message_ids.setdefault(recipient, []).append(_message_id(data))
                        self.languages.setdefault(recipient, []).append(
                            _header(data, b"content-language:"))
                        reply("250 2.0.0 Ok: queued")
                elif verb == "RSET" or verb == "NOOP":
                    reply("250 2.0.0 Ok")
                elif verb == "QUIT":
                    reply("221 2.0.0 Bye")
                    await writer.drain()
                    writer.close()
                    return
                else:
                    reply("502 5.5.2 Command not recognized")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return

    @staticmethod
    async def _read_data(reader: asyncio.StreamReader) -> bytes | None:
        """The message up to the lone dot, or None when the connection ends before it."""
        lines = []
        while (line := await reader.readline()) != b".\r\n":
            if not line.endswith(b"\n"):  # EOF, or a last line cut off by the client's death
                return None
            lines.append(line)
        return b"".join(lines)


def _message_id(data: bytes) -> str:
    return _header(data, b"message-id:")


def _header(data: bytes, name: bytes) -> str:
    for line in data.split(b"\r\n"):
        if line.lower().startswith(name):
            return line.split(b":", 1)[1].strip().decode()
    return ""
