"""The state one drain's tasks share: the gate to SMTP, the rows held, the halt, and every
database call made through an outage.

The producer, the connections (or the dispatcher to the sender processes) and the recorder
of one drain see the same Flow; the gate is what keeps a result from ever being lost: no
message is handed to SMTP while UNWRITTEN_MAX results wait for their write or a database
call is failing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from publisher.errors import DatabaseFault
from publisher.mail.wire import Outgoing
from publisher.outage import RetryPolicy, retry_async
from publisher.sending import outbox
from publisher.sending.outbox import Delivery, Result

Item = tuple[Delivery, Outgoing | None]  # the message; None where a sender process builds it
BUILD_AHEAD = 64  # messages built ahead of the connections: memory stays flat at any size
UNWRITTEN_MAX = BUILD_AHEAD  # results not yet written before the connections wait for them

T = TypeVar("T")


@dataclass
class Flow:
    """What the producer, the connections and the recorder of one drain share.

    `open` is the gate to SMTP. It is closed while any database call of the drain is
    failing, and while UNWRITTEN_MAX results wait for their write (a write that hangs on a
    lock stops the hand-over as surely as one that fails). `held` is every row claimed and
    not yet settled in the database: queued here, in flight, or a result not yet written.
    `halted` is set when the send is seen paused or cancelled: nothing more is claimed or
    handed over. `on_change` hears every gate decision and the halt (the sender processes
    follow them).
    """

    policy: RetryPolicy
    stop: asyncio.Event
    queue: asyncio.Queue[Item | None] = field(
        default_factory=lambda: asyncio.Queue(maxsize=BUILD_AHEAD))
    settled: list[Result] = field(default_factory=list)
    held: set[int] = field(default_factory=set)
    open: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)
    halted: asyncio.Event = field(default_factory=asyncio.Event)
    error: DatabaseFault | None = None
    recheck_own_rows: bool = True  # at the start and after every fault
    on_change: Callable[[], None] | None = None
    _failing: int = 0

    def __post_init__(self) -> None:
        self.open.set()

    def gate(self) -> None:
        """Open the gate to SMTP only when every result so far can be written."""
        if self.error is not None or (
                self._failing == 0 and len(self.settled) < UNWRITTEN_MAX):
            self.open.set()
        else:
            self.open.clear()
        if self.on_change is not None:
            self.on_change()

    def add(self, result: Result) -> None:
        self.add_all([result])

    def add_all(self, results: list[Result]) -> None:
        """Results to write, with one gate decision for all of them."""
        self.settled.extend(results)
        self.gate()

    def written(self, results: list[Result]) -> None:
        del self.settled[: len(results)]
        self.held.difference_update(r.delivery_id for r in results)
        self.gate()

    async def db(self, call: Callable[[], T]) -> T:
        """One database call (a whole transaction), retried through an outage."""
        try:
            return await retry_async(call, self.policy, self.stop,
                                     on_fault=self._faulted, on_back=self._back)
        except DatabaseFault as exc:
            self.fail(exc)
            raise

    def _faulted(self) -> None:
        self._failing += 1
        self.gate()

    def _back(self) -> None:
        self._failing -= 1
        self.recheck_own_rows = True
        self.gate()

    def fail(self, exc: DatabaseFault) -> None:
        """Give up: nothing more is claimed or handed over; waiters wake and leave."""
        if self.error is None:
            self.error = exc
        self.gate()

    def see(self, state: str) -> bool:
        """Note the send's state; True while it may be claimed and sent."""
        if state != outbox.SEND_ACTIVE and not self.halted.is_set():
            self.halted.set()
            if self.on_change is not None:
                self.on_change()
        return not self.halted.is_set()

    async def pause_for(self, seconds: float) -> None:
        """Sleep, waking early on a stop or a halt."""
        waits = [asyncio.ensure_future(e.wait()) for e in (self.stop, self.halted)]
        try:
            await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()

    @property
    def stopping(self) -> bool:
        return self.error is not None or self.stop.is_set() or self.halted.is_set()
