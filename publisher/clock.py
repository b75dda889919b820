"""The one place publisher reads the wall clock; everything else receives a Clock.

Not ours to inject: itsdangerous stamps timed tokens and checks their age with its own
`time.time()` (tokens.py). Elapsed time (outage spells, rate limits, the drain loop) is
measured on monotonic clocks, which are not the wall clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, timezone-aware, in UTC."""
    return datetime.now(UTC)
