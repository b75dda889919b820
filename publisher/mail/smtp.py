"""The SMTP side of sending: a pool of reused aiosmtplib connections, rate-limited.

The transport only turns (delivery, bytes) into a Result; the outbox decides nothing here.
Reply classes: 2xx sent; 4xx, 421, timeouts and dropped connections deferred (with
exponential backoff and jitter, failed after max attempts); 5xx failed at once and counted
as a hard bounce.
"""

from __future__ import annotations

import asyncio
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import aiosmtplib

from publisher.config import Secrets, SmtpConfig
from publisher.errors import ConfigError
from publisher.ratelimit import AsyncRateLimiter, TokenBucket
from publisher.sending.outbox import DEFERRED, FAILED, SENT, Delivery, Result

LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter; after max_attempts a delivery fails for good."""

    base_seconds: float
    max_seconds: float
    max_attempts: int
    jitter: Callable[[], float] = lambda: random.uniform(0.8, 1.2)  # noqa: S311

    def next_attempt(self, attempts: int, now: datetime) -> datetime | None:
        if attempts >= self.max_attempts:
            return None
        delay = min(self.base_seconds * 2 ** (attempts - 1), self.max_seconds)
        return now + timedelta(seconds=delay * self.jitter())


def tls_options(config: SmtpConfig) -> dict[str, object]:
    """Explicit TLS: `none` only to loopback; certificates always verified otherwise."""
    if config.tls == "none":
        if config.host not in LOOPBACK:
            raise ConfigError("smtp.tls: 'none' is only allowed for a loopback host")
        return {"use_tls": False, "start_tls": False}
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if config.tls == "implicit":
        return {"use_tls": True, "start_tls": False, "tls_context": context}
    return {"use_tls": False, "start_tls": True, "tls_context": context}


def classify(code: int, message: str, delivery: Delivery, backoff: Backoff,
             now: datetime) -> Result:
    reply = f"{code} {message}".strip()
    if 200 <= code < 300:
        return Result(delivery.id, SENT, reply)
    if 400 <= code < 500:
        return _deferred(delivery, reply, backoff, now)
    return Result(delivery.id, FAILED, reply, hard_bounce=500 <= code < 600)


def _deferred(delivery: Delivery, reply: str, backoff: Backoff, now: datetime) -> Result:
    when = backoff.next_attempt(delivery.attempts, now)
    if when is None:
        return Result(delivery.id, FAILED, f"{reply} (gave up after {delivery.attempts} attempts)")
    return Result(delivery.id, DEFERRED, reply, next_attempt_at=when)


class Connection:
    """One reused SMTP connection: reconnects when dropped or after max messages."""

    def __init__(self, config: SmtpConfig, secrets: Secrets) -> None:
        self.config = config
        self.secrets = secrets
        self.client: aiosmtplib.SMTP | None = None
        self.sent_on_connection = 0

    async def _connect(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(
            hostname=self.config.host, port=self.config.port,
            timeout=self.config.command_timeout, **tls_options(self.config))  # type: ignore[arg-type]
        await client.connect(timeout=self.config.connect_timeout)
        if client.is_ehlo_or_helo_needed:  # learn the extensions (8BITMIME) up front
            await client.ehlo()
        if self.secrets.smtp_username and self.secrets.smtp_password:
            await client.login(self.secrets.smtp_username, self.secrets.smtp_password)
        self.sent_on_connection = 0
        return client

    async def close(self) -> None:
        client, self.client = self.client, None
        if client is not None and client.is_connected:
            try:
                await asyncio.wait_for(client.quit(), timeout=5)
            except (aiosmtplib.SMTPException, OSError, TimeoutError):
                client.close()

    async def send(self, envelope_from: str, recipient: str, message: bytes) -> tuple[int, str]:
        """One SMTP transaction; returns the reply for this recipient or raises on transport."""
        if self.client is None or not self.client.is_connected:
            self.client = await self._connect()
        options = []
        if not message.isascii():  # an 8bit body needs the server's 8BITMIME (RFC 6152)
            if not self.client.supports_extension("8bitmime"):
                raise aiosmtplib.SMTPResponseException(
                    450, "server does not offer 8BITMIME; set [email] transfer_encoding = "
                         "\"quoted-printable\"")
            options.append("BODY=8BITMIME")
        errors, reply = await self.client.sendmail(envelope_from, [recipient], message,
                                                   mail_options=options)
        self.sent_on_connection += 1
        if self.sent_on_connection >= self.config.max_messages_per_connection:
            await self.close()
        if recipient in errors:  # refused inside an accepted transaction
            code, text = errors[recipient]
            return code, text
        return 250, reply


async def attempt(connection: Connection, delivery: Delivery, envelope_from: str,
                  message: bytes, backoff: Backoff, now: Callable[[], datetime]) -> Result:
    """Send one delivery over a pooled connection and classify what happened."""
    try:
        code, text = await connection.send(envelope_from, delivery.email, message)
        return classify(code, text, delivery, backoff, now())
    except aiosmtplib.SMTPRecipientsRefused as exc:
        code, text = exc.recipients[0].code, exc.recipients[0].message
        return classify(code, text, delivery, backoff, now())
    except aiosmtplib.SMTPResponseException as exc:
        if exc.code == 421:
            await connection.close()
        return classify(exc.code, exc.message, delivery, backoff, now())
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        await connection.close()
        return _deferred(delivery, f"connection: {type(exc).__name__}: {exc}", backoff, now())


def rate_limiter(config: SmtpConfig, clock: Callable[[], float]) -> AsyncRateLimiter:
    return AsyncRateLimiter([
        TokenBucket(config.rate_per_second, 1.0, max(1.0, config.rate_per_second), clock),
        TokenBucket(config.rate_per_hour, 3600.0, max(1.0, config.rate_per_hour / 60), clock),
    ])
