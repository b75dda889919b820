"""Structured logging: one JSON line per event, with its UTC time, on the `publisher` logger.

The daemon logs at INFO; foreground commands show WARNING and above on stderr.
"""

from __future__ import annotations

import json
import logging

from publisher.clock import utc_now

log = logging.getLogger("publisher")

WARNINGS = {"database_unavailable", "database_error", "sender_lost", "senders_failed",
            "delivery_set_aside", "analytics_not_counted"}


def log_event(event: str, **fields: object) -> None:
    """One structured (JSON) log line; outages are warnings, the rest information."""
    line = json.dumps({"at": utc_now().isoformat(timespec="milliseconds"), "event": event,
                       **fields}, ensure_ascii=False, default=str)
    log.log(logging.WARNING if event in WARNINGS else logging.INFO, line)
