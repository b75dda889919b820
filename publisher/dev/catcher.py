"""An SMTP catcher on loopback (aiosmtpd) that stores every message it accepts in a Maildir.

The demo sends through it, `publisher dev catch` runs it for a person to watch (each
message's subject, recipient and links as it arrives), and tests use it as the receiving end
of a real SMTP session.
"""

from __future__ import annotations

import mailbox
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer  # noqa: N811
from aiosmtpd.smtp import Envelope, Session

LOOPBACK = "127.0.0.1"


class MaildirHandler:
    """Delivers each accepted message into the Maildir, one file per recipient."""

    def __init__(self, maildir: Path, on_message: Callable[[bytes], None] | None = None) -> None:
        maildir.parent.mkdir(parents=True, exist_ok=True)  # Maildir makes only the last folder
        self.maildir = mailbox.Maildir(str(maildir), create=True)
        self.lock = threading.Lock()
        self.count = 0
        self.on_message = on_message

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTPServer, session: Session, envelope: Envelope
    ) -> str:
        content = envelope.original_content or b""
        with self.lock:
            for recipient in envelope.rcpt_tos:
                header = f"X-Envelope-To: {recipient}\r\nX-Envelope-From: {envelope.mail_from}\r\n"
                stored = header.encode("ascii", "replace") + content
                self.maildir.add(stored)
                self.count += 1
                if self.on_message is not None:
                    self.on_message(stored)
        return "250 2.0.0 OK: queued"


class Catcher:
    """Context manager: an SMTP server on a loopback port writing to a Maildir."""

    def __init__(self, maildir: Path, port: int = 0, hostname: str = LOOPBACK,
                 on_message: Callable[[bytes], None] | None = None) -> None:
        self.handler = MaildirHandler(maildir, on_message)
        self.maildir_path = maildir
        self.controller = Controller(self.handler, hostname=hostname, port=port or _free_port(),
                                     decode_data=False, enable_SMTPUTF8=True,
                                     data_size_limit=50 * 1024 * 1024)

    @property
    def port(self) -> int:
        return int(self.controller.port)

    def __enter__(self) -> Catcher:
        self.controller.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.controller.stop()

    def messages(self) -> list[bytes]:
        box = mailbox.Maildir(str(self.maildir_path), create=False)
        return [box.get_bytes(key) for key in box.keys()]


_URL = re.compile(r"https?://[^\s<>\"')\]]+")


@dataclass(frozen=True)
class Arrival:
    """What a person watching the catcher wants of one message."""

    to: str
    subject: str
    links: list[str]  # every URL of the text part (else the HTML), first seen first


def arrival(stored: bytes) -> Arrival:
    """The recipient, decoded subject and links of a message as the catcher stored it."""
    message = message_from_bytes(stored, policy=policy.default)
    body = message.get_body(preferencelist=("plain", "html"))
    text = body.get_content() if body is not None else ""
    links = list(dict.fromkeys(_URL.findall(text)))
    return Arrival(str(message.get("X-Envelope-To", "")), str(message.get("Subject", "")), links)


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])
