"""The SMTP transport: reused connections opened by aiosmtplib, rate-limited.

It turns (envelope sender, recipient, bytes) into a Reply and knows nothing of the outbox:
what a reply does to a delivery (retry when, count a bounce) is decided by the sending side.
aiosmtplib opens each connection; `transaction.Session` runs the transactions on it,
pipelined when the server offers PIPELINING. Reply kinds: 2xx sent; 4xx (421 included),
timeouts and dropped connections temporary; anything else permanent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import aiosmtplib

from publisher.config import LOOPBACK_HOSTS, Secrets, SmtpConfig
from publisher.errors import ConfigError
from publisher.mail.transaction import Session
from publisher.mail.wire import Outgoing
from publisher.ratelimit import AsyncRateLimiter, TokenBucket
from publisher.tls import client_context


class Kind(StrEnum):
    """What a reply means for the message: taken, worth trying later, or refused for good."""

    SENT = "sent"
    TEMPORARY = "temporary"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class Reply:
    """The server's answer for one recipient; `code` is None when no reply came (the
    connection failed or dropped), and `message` then says what happened."""

    code: int | None
    message: str
    kind: Kind

    @property
    def text(self) -> str:
        return f"{self.code} {self.message}".strip() if self.code is not None else self.message


def classify(code: int, message: str) -> Reply:
    """A reply code's kind: 2xx sent, 4xx temporary, anything else permanent."""
    if 200 <= code < 300:
        return Reply(code, message, Kind.SENT)
    if 400 <= code < 500:
        return Reply(code, message, Kind.TEMPORARY)
    return Reply(code, message, Kind.PERMANENT)


def tls_options(config: SmtpConfig) -> dict[str, object]:
    """Explicit TLS: `none` only to loopback; certificates always verified otherwise."""
    if config.tls == "none":
        if config.host not in LOOPBACK_HOSTS:
            raise ConfigError("smtp.tls: 'none' is only allowed for a loopback host")
        return {"use_tls": False, "start_tls": False}
    context = client_context()
    if config.tls == "implicit":
        return {"use_tls": True, "start_tls": False, "tls_context": context}
    return {"use_tls": False, "start_tls": True, "tls_context": context}


class Connection:
    """One reused SMTP connection: reconnects when dropped or after max messages.

    aiosmtplib opens it (connect, EHLO, STARTTLS or implicit TLS, AUTH); the transactions
    then run on `transaction.Session`, pipelined when the server offers PIPELINING."""

    def __init__(self, config: SmtpConfig, secrets: Secrets) -> None:
        self.config = config
        self.secrets = secrets
        self.session: Session | None = None
        self.sent_on_connection = 0

    async def _connect(self) -> Session:
        client = aiosmtplib.SMTP(
            hostname=self.config.host, port=self.config.port,
            timeout=self.config.command_timeout, **tls_options(self.config))  # type: ignore[arg-type]
        await client.connect(timeout=self.config.connect_timeout)
        try:
            if client.is_ehlo_or_helo_needed:  # learn the extensions (8BITMIME) up front
                await client.ehlo()
            if self.secrets.smtp_username and self.secrets.smtp_password:
                await client.login(self.secrets.smtp_username, self.secrets.smtp_password)
            session = Session.take_over(client, self.config.command_timeout)
        except BaseException:
            client.close()  # refused at EHLO or AUTH: do not leave the socket open
            raise
        self.sent_on_connection = 0
        return session

    async def close(self) -> None:
        """QUIT (bounded to 5 s) and close."""
        session, self.session = self.session, None
        if session is not None:
            await session.quit(timeout=5)

    def drop(self) -> None:
        """Close without QUIT: the server said 421, or the connection failed."""
        session, self.session = self.session, None
        if session is not None:
            session.abort()

    async def send(self, envelope_from: str, recipient: str,
                   message: Outgoing) -> tuple[int, str]:
        """One SMTP transaction; returns the reply that decided it or raises on transport."""
        if self.session is None or not self.session.is_open:
            self.drop()
            self.session = await self._connect()
        options = []
        if message.eight_bit:  # an 8bit body needs the server's 8BITMIME (RFC 6152)
            if "8bitmime" not in self.session.extensions:
                return 450, ("server does not offer 8BITMIME; set [email] transfer_encoding = "
                             "\"quoted-printable\"")
            options.append("BODY=8BITMIME")
        reply = await self.session.send(envelope_from, recipient, message, options)
        self.sent_on_connection += 1
        if self.sent_on_connection >= self.config.max_messages_per_connection:
            await self.close()
        return reply


async def deliver(connection: Connection, envelope_from: str, recipient: str,
                  message: Outgoing) -> Reply:
    """Send one message to one recipient over a pooled connection; never raises for what
    the server or the network did: that is the Reply."""
    try:
        code, text = await connection.send(envelope_from, recipient, message)
    except aiosmtplib.SMTPResponseException as exc:  # refused while connecting (greeting, AUTH)
        if exc.code == 421:
            connection.drop()
        return classify(exc.code, exc.message)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        connection.drop()
        return Reply(None, f"connection: {type(exc).__name__}: {exc}", Kind.TEMPORARY)
    if code == 421:  # the server is closing the connection (RFC 5321 3.8)
        connection.drop()
    return classify(code, text)


async def send_one(config: SmtpConfig, secrets: Secrets, envelope_from: str, recipient: str,
                   message: Outgoing) -> Reply:
    """One message on a connection of its own, closed after it (a confirmation, a test copy)."""
    connection = Connection(config, secrets)
    try:
        return await deliver(connection, envelope_from, recipient, message)
    finally:
        await connection.close()


def rate_limiter(config: SmtpConfig, clock: Callable[[], float]) -> AsyncRateLimiter:
    return AsyncRateLimiter([
        TokenBucket(config.rate_per_second, 1.0, max(1.0, config.rate_per_second), clock),
        TokenBucket(config.rate_per_hour, 3600.0, max(1.0, config.rate_per_hour / 60), clock),
    ])
