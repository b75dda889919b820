"""Shared pieces of the webhook tests: a config naming endpoints, a clock the test moves,
and the check a receiver makes of a signature."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from publisher.config import Config, WebhookConfig
from publisher.events import EVENT_TYPES

SECRET_ENV = "PUBLISHER_TEST_WEBHOOK_SECRET"
T0 = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)


def with_webhooks(config: Config, database_url: str, *urls: str,
                  **settings: float) -> Config:
    """`config` on `database_url` with one webhook per url, for every event type."""
    hooks = [WebhookConfig(url=url, events=list(EVENT_TYPES), secret_env=SECRET_ENV,
                           **settings) for url in urls]
    database = config.settings.database.model_copy(update={"url": database_url})
    return replace(config, settings=config.settings.model_copy(
        update={"webhooks": hooks, "database": database}))


@dataclass
class Clock:
    """The time the code under test reads; tests move it on."""

    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def verifies(secret: str, header: str, body: bytes) -> bool:
    """True when one of the header's v1 signatures is the HMAC of t.body under `secret`."""
    parts = [part.split("=", 1) for part in header.split(",")]
    timestamp = next(value for key, value in parts if key == "t")
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body,
                        hashlib.sha256).hexdigest()
    return any(key == "v1" and hmac.compare_digest(value, expected) for key, value in parts)
