"""Bearer tokens of the JSON API (/api/v1): the only writer of api_tokens.

A token is `pub_` and 32 random bytes (256 bits, URL-safe base64), shown once when it is
made; the database keeps only its SHA-256, so a stolen database opens nothing. Each token
has a unique name and scopes among SCOPES. Its `last_used_at` is written at most once a
minute (LAST_USED_EVERY), never on every request. A revoked token stays listed, and its name
is not given again. The API is on only while at least one token is not revoked
(`any_active`). No HTTP here: publisher.web.api answers requests, `publisher admin token`
makes, lists and revokes tokens.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from publisher.db import api_tokens
from publisher.errors import PublisherError

PREFIX = "pub_"
SCOPES = ("subscribers:read", "subscribers:write", "sends:read", "sends:write")
NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
LAST_USED_EVERY = timedelta(minutes=1)
MAX_TOKEN = 128  # longer bearer strings are refused before hashing


class TokenError(PublisherError):
    """A token name or scope the API refuses, or a name already taken."""


@dataclass(frozen=True)
class ApiToken:
    """A stored token as `admin token list` shows it (never its secret)."""

    name: str
    scopes: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_new_token(name: str, scopes: tuple[str, ...]) -> None:
    """Raise TokenError naming what is wrong with a new token's name or scopes."""
    if not NAME.fullmatch(name):
        raise TokenError("name: 1 to 64 letters, digits, '.', '_' or '-'")
    if not scopes:
        raise TokenError(f"scope: give at least one of {', '.join(SCOPES)}")
    unknown = [scope for scope in scopes if scope not in SCOPES]
    if unknown:
        raise TokenError(f"scope: {unknown[0]!r} is not one of {', '.join(SCOPES)}")


def create(engine: Engine, name: str, scopes: tuple[str, ...], now: datetime) -> str:
    """Store a new token under `name` with `scopes`; returns its secret (shown only now)."""
    check_new_token(name, scopes)
    secret = PREFIX + secrets.token_urlsafe(32)
    with engine.begin() as conn:
        taken = conn.execute(sa.select(api_tokens.c.name)
                             .where(api_tokens.c.name == name)).first()
        if taken is not None:
            raise TokenError(f"name: a token named {name!r} exists (revoked ones keep theirs)")
        conn.execute(api_tokens.insert().values(
            name=name, token_hash=digest(secret), scopes=sorted(set(scopes), key=SCOPES.index),
            created_at=now))
    return secret


def listed(engine: Engine) -> list[ApiToken]:
    """Every token, oldest first, revoked ones included."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(api_tokens).order_by(api_tokens.c.created_at,
                                                           api_tokens.c.name)).all()
    return [ApiToken(str(r.name), tuple(r.scopes), r.created_at, r.last_used_at, r.revoked_at)
            for r in rows]


def revoke(engine: Engine, name: str, now: datetime) -> bool:
    """Revoke the token named `name`; False when there is none that is not revoked."""
    with engine.begin() as conn:
        changed = conn.execute(api_tokens.update().where(api_tokens.c.name == name,
                                                         api_tokens.c.revoked_at.is_(None))
                               .values(revoked_at=now)).rowcount
    return bool(changed)


def any_active(engine: Engine) -> bool:
    """Whether the API is on: some token is not revoked."""
    with engine.connect() as conn:
        return conn.execute(sa.select(api_tokens.c.name)
                            .where(api_tokens.c.revoked_at.is_(None)).limit(1)).first() is not None


def authenticate(engine: Engine, secret: str, now: datetime) -> ApiToken | None:
    """The valid token whose secret this is, its use noted (at most once a minute); None
    for an unknown or revoked one. The stored hash is compared in constant time."""
    if not secret.startswith(PREFIX) or len(secret) > MAX_TOKEN:
        return None
    hashed = digest(secret)
    with engine.connect() as conn:
        row = conn.execute(sa.select(api_tokens)
                           .where(api_tokens.c.token_hash == hashed)).first()
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.token_hash,
                                                                             hashed):
        return None
    if row.last_used_at is None or row.last_used_at <= now - LAST_USED_EVERY:
        with engine.begin() as conn:
            conn.execute(api_tokens.update().where(api_tokens.c.name == row.name)
                         .values(last_used_at=now))
    return ApiToken(str(row.name), tuple(row.scopes), row.created_at, now, None)
