"""Operator console accounts and sessions: the only writer of admin_users and admin_sessions.

There is no default account: the first one is made with `publisher admin set-password`.
Passwords are hashed with argon2id (and rehashed at login when the parameters change). A
session id is 32 random bytes made at each login; the database holds only its sha256, so a
stolen database opens no session. No HTTP here: publisher.web.admin turns these into pages
and cookies, and `publisher admin` into a command.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy.engine import Engine

from publisher.db import admin_sessions, admin_users
from publisher.errors import PublisherError

HASHER = PasswordHasher()  # argon2id with the library's RFC 9106 parameters
MIN_PASSWORD = 12
MAX_PASSWORD = 1024
USERNAME = re.compile(r"[A-Za-z0-9._@-]{1,64}")
# Verified when the username is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = HASHER.hash(secrets.token_urlsafe(16))


class AccountError(PublisherError):
    """A username or password the console refuses to store."""


def check_new_account(username: str, password: str) -> None:
    """Raise AccountError naming what is wrong with a username or a new password."""
    if not USERNAME.fullmatch(username):
        raise AccountError("username: 1 to 64 letters, digits, '.', '_', '@' or '-'")
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"password: at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"password: at most {MAX_PASSWORD} characters")


def set_password(engine: Engine, username: str, password: str, now: datetime) -> bool:
    """Create the account or change its password (ending its open sessions); True if new."""
    check_new_account(username, password)
    hashed = HASHER.hash(password)
    with engine.begin() as conn:
        exists = conn.execute(sa.select(admin_users.c.username)
                              .where(admin_users.c.username == username)).first()
        if exists:
            conn.execute(admin_users.update().where(admin_users.c.username == username)
                         .values(password_hash=hashed, updated_at=now))
            conn.execute(admin_sessions.delete().where(admin_sessions.c.username == username))
        else:
            conn.execute(admin_users.insert().values(username=username, password_hash=hashed,
                                                     created_at=now, updated_at=now))
    return not exists


def has_accounts(engine: Engine) -> bool:
    with engine.connect() as conn:
        return conn.execute(sa.select(admin_users.c.username).limit(1)).first() is not None


def check_password(engine: Engine, username: str, password: str, now: datetime) -> bool:
    """True when the account exists and the password is its own; slow on purpose (argon2)."""
    if len(password) > MAX_PASSWORD:
        return False
    with engine.connect() as conn:
        stored = conn.execute(sa.select(admin_users.c.password_hash)
                              .where(admin_users.c.username == username)).scalar()
    try:
        HASHER.verify(stored or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return False
    if stored is None:
        return False
    if HASHER.check_needs_rehash(stored):
        with engine.begin() as conn:
            conn.execute(admin_users.update().where(admin_users.c.username == username)
                         .values(password_hash=HASHER.hash(password), updated_at=now))
    return True


def _digest(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


def open_session(engine: Engine, username: str, now: datetime, lifetime: timedelta) -> str:
    """A new random session id for `username`; the database keeps only its hash.
    Expired sessions of every account are swept at the same time."""
    session_id = secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(admin_sessions.delete().where(admin_sessions.c.expires_at <= now))
        conn.execute(admin_sessions.insert().values(id_hash=_digest(session_id),
                                                    username=username, created_at=now,
                                                    expires_at=now + lifetime))
    return session_id


def session_user(engine: Engine, session_id: str, now: datetime) -> str | None:
    """The username of a live session; None for an unknown, ended or expired one."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(admin_sessions.c.username, admin_sessions.c.expires_at)
                           .where(admin_sessions.c.id_hash == _digest(session_id))).first()
    if row is None or row.expires_at <= now:
        return None
    return str(row.username)


def close_session(engine: Engine, session_id: str) -> None:
    with engine.begin() as conn:
        conn.execute(admin_sessions.delete()
                     .where(admin_sessions.c.id_hash == _digest(session_id)))
