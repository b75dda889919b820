"""When each reader gets an issue: its `send_local` time of day in the reader's zone.

The issue's window is read here; the outbox turns it into each delivery row's not_before
when the send starts (publisher.sending.outbox). This module only reads delivery rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from publisher.config import Config
from publisher.content.issues import Issue
from publisher.db import deliveries
from publisher.sending.outbox import QUEUED, Window


def window_of(issue: Issue, config: Config) -> Window | None:
    """The issue's send window (None: deliver as soon as the send starts); readers
    without a zone of their own get the site's `[site] timezone`."""
    if issue.meta.send_local is None:
        return None
    return Window(issue.meta.send_local, config.site.timezone)


@dataclass(frozen=True)
class Waiting:
    """Queued rows of a send whose local time has not come yet, and the first of them."""

    rows: int
    first: datetime | None


def waiting(engine: Engine, send_id: int, now: datetime) -> Waiting:
    """How many of the send's rows wait for their local time after `now`."""
    c = deliveries.c
    with engine.connect() as conn:
        rows, first = conn.execute(sa.select(sa.func.count(), sa.func.min(c.not_before)).where(
            c.send_id == send_id, c.status == QUEUED, c.not_before > now)).one()
    return Waiting(int(rows), first if isinstance(first, datetime) else None)
