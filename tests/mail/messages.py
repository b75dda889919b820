"""Messages and settings shared by the SMTP transaction tests."""

from __future__ import annotations

from publisher.config import Secrets, SmtpConfig
from publisher.mail.smtp import Connection
from publisher.mail.wire import Outgoing, outgoing_from

SENDER = "bounces+issue-7@example.org"
RECIPIENT = "o'brien+digest@example.net"


def message(marker: str = "") -> Outgoing:
    """About 80 KB of Chinese UTF-8 text, with lines that start with one dot, two dots and a
    lone dot, so dot-stuffing shows on the wire."""
    lines = [f"From: Digest <{SENDER}>", f"To: <{RECIPIENT}>", f"Subject: 每周摘要 {marker}",
             "MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8",
             "Content-Transfer-Encoding: 8bit", "",
             ".a line that starts with a dot", "..two dots", "."]
    lines += [f"第{n}段：出版者把本期摘要发给每一位读者，内容保持原样。" for n in range(1000)]
    lines += [".", "end"]
    return outgoing_from("\n".join(lines).encode())


def connection(port: int, command_timeout: float = 10.0) -> Connection:
    return Connection(SmtpConfig(port=port, command_timeout=command_timeout,
                                 connect_timeout=10.0), Secrets())
