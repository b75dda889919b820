"""A real webhook receiver on loopback for tests and benchmarks: a threaded HTTP server whose
replies follow a script (200, 500, 410, a hang past the sender's timeout), recording every
request it read; it can be stopped and started again on the same port (an outage)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HANG = -1  # the script's answer for "reply only after the sender has given up"


@dataclass(frozen=True)
class Received:
    """One request as it arrived."""

    headers: dict[str, str]
    body: bytes
    status: int  # what the script answered (HANG: nothing in time)

    @property
    def event(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(self.body)
        return document

    @property
    def event_id(self) -> str:
        return self.headers["publisher-event-id"]


Script = Callable[[dict[str, Any], int], int]  # (event, how many times its id came) -> status


class Receiver:
    """Start with `with Receiver(script) as receiver:`; `receiver.url` is its address."""

    def __init__(self, script: Script = lambda event, seen: 200, hang_seconds: float = 3.0,
                 port: int = 0, delay: float = 0.0) -> None:
        self.script = script
        self.hang_seconds = hang_seconds
        self.delay = delay  # seconds each reply takes (work a real receiver would do)
        self.received: list[Received] = []
        self.lock = threading.Lock()
        self.port = port
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def seen(self, event_id: str) -> int:
        with self.lock:
            return sum(1 for r in self.received if r.event_id == event_id)

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as a production receiver has
            disable_nagle_algorithm = True  # unbuffered header writes: no 40 ms ACK stalls

            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                event = json.loads(body)
                with receiver.lock:
                    times = 1 + sum(1 for r in receiver.received
                                    if r.event_id == headers["publisher-event-id"])
                status = receiver.script(event, times)
                time.sleep(receiver.delay)
                with receiver.lock:
                    receiver.received.append(Received(headers, body, status))
                if status == HANG:
                    time.sleep(receiver.hang_seconds)
                    status = 200
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                except OSError:  # the sender gave up waiting (a HANG): nobody reads this
                    pass

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # 5 by default: parallel posts would wait for SYN retries

        self._server = Server(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> Receiver:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
