"""Read-only views of subscribers for the JSON API: one reader with their dates, and pages
in id order after a cursor, filtered by status, tag, address and time of last change.

Nothing here writes (publisher.subscribers.store does). A page is one indexed query by id;
the tag filter narrows in SQL on the stored JSON text and is then checked exactly, so a
tag that is a substring of another never matches it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from publisher.db import subscriber_table


@dataclass(frozen=True)
class Reader:
    """A subscriber as the API shows them."""

    id: int
    email: str
    name: str
    status: str
    tags: list[str]
    timezone: str | None
    created_at: datetime
    updated_at: datetime
    confirmed_at: datetime | None
    unsubscribed_at: datetime | None
    consent_source: str | None
    language: str | None  # None: the site's


@dataclass(frozen=True)
class Filters:
    """What a page is narrowed to; None (or empty) means any."""

    status: str | None = None
    tag: str | None = None
    email_key: str | None = None
    changed_since: datetime | None = None


def _reader(row: Any) -> Reader:
    return Reader(int(row.id), str(row.email), str(row.name), str(row.status),
                  list(row.tags or []), row.timezone, row.created_at, row.updated_at,
                  row.confirmed_at, row.unsubscribed_at, row.consent_source, row.language)


def reader(conn: Connection, subscriber_id: int) -> Reader | None:
    row = conn.execute(sa.select(subscriber_table)
                       .where(subscriber_table.c.id == subscriber_id)).first()
    return _reader(row) if row is not None else None


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _where(filters: Filters) -> list[Any]:
    c = subscriber_table.c
    where: list[Any] = []
    if filters.status:
        where.append(c.status == filters.status)
    if filters.email_key is not None:
        where.append(c.email_key == filters.email_key)
    if filters.changed_since is not None:
        where.append(c.updated_at >= filters.changed_since)
    if filters.tag:
        pattern = f"%{_like_escaped(json.dumps(filters.tag))}%"
        where.append(sa.cast(c.tags, sa.Text).like(pattern, escape="\\"))
    return where


def page(conn: Connection, after: int, limit: int, filters: Filters) -> list[Reader]:
    """Up to `limit` readers with an id above `after` that match `filters`, in id order."""
    c = subscriber_table.c
    found: list[Reader] = []
    while len(found) < limit:
        rows = conn.execute(sa.select(subscriber_table)
                            .where(c.id > after, *_where(filters))
                            .order_by(c.id).limit(limit)).all()
        if not rows:
            break
        found += [r for r in map(_reader, rows) if not filters.tag or filters.tag in r.tags]
        after = int(rows[-1].id)
    return found[:limit]
