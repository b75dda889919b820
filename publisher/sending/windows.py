"""When each reader gets an issue: its `send_local` time of day in the reader's zone.

STUB: being written (issue 16).
"""

from __future__ import annotations

from publisher.config import Config
from publisher.content.issues import Issue
from publisher.sending.outbox import Window


def window_of(issue: Issue, config: Config) -> Window | None:
    """The issue's send window (None: deliver as soon as the send starts)."""
    return None
