"""Who an issue goes to: its `audience` tag expression (or the operator's override),
checked against the known tags and turned into the outbox's Audience condition.

STUB: being written (issue 16).
"""

from __future__ import annotations

from publisher.config import Config
from publisher.content.issues import Issue
from publisher.sending.outbox import Audience


def audience_of(issue: Issue, config: Config, override: str | None = None) -> Audience | None:
    """The issue's audience (None: every confirmed subscriber)."""
    return None
