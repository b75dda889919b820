"""Database faults: which errors are an outage worth waiting out, retrying them with backoff
and jitter within an outage budget, and the one line a person reads when we give up.

Transient: the server cannot be reached, is restarting or shutting down (SQLSTATE class 08,
57P0x, no SQLSTATE at all from a failed connection), too many connections, serialization
failures and deadlocks, SQLite's `database is locked`. A constraint or schema error, or a
full disk, is not worth a retry. Messages never carry SQL or its parameters (addresses).
One log line when an outage begins and one when it ends, however many calls wait it out.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

import sqlalchemy as sa

from publisher.errors import DatabaseFault
from publisher.logs import log_event

T = TypeVar("T")

TRANSIENT_SQLSTATES = {"57P01", "57P02", "57P03", "57P05", "40001", "40P01", "53300", "55P03"}
SQLITE_BUSY = {"SQLITE_BUSY", "SQLITE_LOCKED"}


class Fault(StrEnum):
    """What kind of database trouble an error is."""

    UNAVAILABLE = "unavailable"  # transient: wait and retry
    LOCKED = "locked"  # transient: another process holds the SQLite write lock
    FULL = "full"  # permanent until someone frees space
    ERROR = "error"  # anything else the database refused (constraint, schema)


def classify(exc: BaseException) -> Fault | None:
    """The kind of database fault `exc` is, or None when it is not a database error."""
    if isinstance(exc, DatabaseFault):
        return Fault(exc.fault)
    if isinstance(exc, sa.exc.TimeoutError):  # no pooled connection came free in time
        return Fault.UNAVAILABLE
    if not isinstance(exc, sa.exc.DBAPIError):
        return None
    orig = exc.orig
    if isinstance(orig, sqlite3.Error):
        return _classify_sqlite(orig)
    state = getattr(orig, "sqlstate", None)
    if state == "53100":
        return Fault.FULL
    if exc.connection_invalidated or state in TRANSIENT_SQLSTATES:
        return Fault.UNAVAILABLE
    if state is None and isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
        return Fault.UNAVAILABLE  # psycopg: connection refused, reset, closed
    if state is not None and state.startswith("08"):
        return Fault.UNAVAILABLE
    return Fault.ERROR


def _classify_sqlite(orig: sqlite3.Error) -> Fault:
    name = getattr(orig, "sqlite_errorname", "")
    text = str(orig).lower()
    if name in SQLITE_BUSY or "locked" in text or "busy" in text:
        return Fault.LOCKED
    if name == "SQLITE_FULL" or "disk is full" in text:
        return Fault.FULL
    return Fault.ERROR


def is_transient(exc: BaseException) -> bool:
    return classify(exc) in (Fault.UNAVAILABLE, Fault.LOCKED)


def reason(exc: BaseException) -> str:
    """The driver's own first line: no SQL statement, no parameters."""
    if isinstance(exc, DatabaseFault):
        return exc.reason
    source = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
    lines = [line.strip() for line in str(source).splitlines() if line.strip()]
    return lines[0] if lines else type(source).__name__


def as_error(exc: BaseException, unrecorded: list[Any] | None = None) -> DatabaseFault:
    """The one-line error the CLI prints for a database exception."""
    if isinstance(exc, DatabaseFault):
        return exc
    return DatabaseFault(classify(exc) or Fault.ERROR, reason(exc), unrecorded)


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait out an outage, and how far apart the tries are."""

    outage_seconds: float = 300.0
    first_delay: float = 0.2
    max_delay: float = 5.0

    def delay(self, failures: int) -> float:
        """Exponential backoff with jitter (between half and all of the step)."""
        step = min(self.max_delay, self.first_delay * 2.0 ** min(failures, 16))
        return step * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security


class OutageLog:
    """Process-wide: logs `database_unavailable` once when an outage begins and
    `database_back` with its duration when a call succeeds again."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._since: float | None = None

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            if self._since is not None:
                return
            self._since = time.monotonic()
        log_event("database_unavailable", fault=str(classify(exc) or Fault.ERROR),
                  error=type(getattr(exc, "orig", None) or exc).__name__, reason=reason(exc))

    def recovered(self) -> None:
        with self._lock:
            since, self._since = self._since, None
        if since is not None:
            log_event("database_back", seconds=round(time.monotonic() - since, 1))

    @property
    def down(self) -> bool:
        return self._since is not None


outages = OutageLog()


class _Tries:
    """The bookkeeping of one call that may be retried: when to give up, how long to wait."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.failures = 0
        self.first_failure = 0.0

    def next_delay(self, exc: BaseException, stopping: bool) -> float:
        """Seconds to wait before the next try; raises the one-line error to give up."""
        if not is_transient(exc):
            raise as_error(exc) from exc
        outages.failed(exc)
        now = time.monotonic()
        if self.failures == 0:
            self.first_failure = now
        self.failures += 1
        left = self.policy.outage_seconds - (now - self.first_failure)
        if stopping or left <= 0:
            raise as_error(exc) from exc
        return min(left, self.policy.delay(self.failures - 1))


def retry(call: Callable[[], T], policy: RetryPolicy,
          stop: Callable[[], bool] | None = None) -> T:
    """Run `call` (one whole transaction), retrying transient faults within the budget."""
    tries = _Tries(policy)
    while True:
        try:
            result = call()
        except (sa.exc.DBAPIError, sa.exc.TimeoutError) as exc:
            wait = tries.next_delay(exc, bool(stop and stop()))
            time.sleep(wait)
            continue
        outages.recovered()
        return result


async def retry_async(call: Callable[[], T], policy: RetryPolicy,
                      stop: asyncio.Event | None = None,
                      on_fault: Callable[[], None] | None = None,
                      on_back: Callable[[], None] | None = None) -> T:
    """`retry` for the event loop: each try runs in a thread; a stop ends the wait early.

    `on_fault` runs at the first failure and `on_back` when the call leaves its outage
    (succeeded or given up), so a caller can hold other work while this one waits."""
    tries = _Tries(policy)
    try:
        while True:
            try:
                result = await asyncio.to_thread(call)
            except (sa.exc.DBAPIError, sa.exc.TimeoutError) as exc:
                if tries.failures == 0 and on_fault is not None and is_transient(exc):
                    on_fault()
                wait = tries.next_delay(exc, bool(stop and stop.is_set()))
                await _sleep(wait, stop)
                continue
            outages.recovered()
            return result
    finally:
        if tries.failures and on_back is not None:
            on_back()


async def _sleep(seconds: float, stop: asyncio.Event | None) -> None:
    if stop is None:
        await asyncio.sleep(seconds)
        return
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass
