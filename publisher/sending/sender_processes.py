"""Sender processes: each builds (personalise + DKIM) and sends the rows the draining process
hands it, over SMTP connections of its own, on an event loop of its own, so that the SMTP
side of a send uses every core.

The draining process owns the outbox (claims, results, state); a sender never touches the
database. It hands a row to SMTP only while the drain's gate is open, and returns a result
(or "unsent") for every row it was given. The drain keeps at most `credit` rows at a sender
without a result: a sender that dies can have sent at most that many messages whose result
is lost; its rows go to a replacement (at most MAX_RESTARTS per drain) or, when the drain is
stopping, stay claimed for the drain to release. A sender whose drain dies exits at once
(its pipe ends; Linux also kills it with PR_SET_PDEATHSIG), so nothing is sent unrecorded
behind the next run's back.

Each side batches what it writes to the other (rows in chunks, results as they complete
within one turn of the event loop): a message costs a few bytes of IPC, not a round trip.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import pickle
import resource
import signal
import subprocess
import sys
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from multiprocessing import Pipe
from multiprocessing.connection import Connection as PipeEnd
from typing import TYPE_CHECKING

from publisher.config import Secrets, SmtpConfig
from publisher.logs import log_event
from publisher.mail.assemble import Builder, KeySpec, make_builder
from publisher.mail.mime import PreparedMessage, SendContext
from publisher.mail.smtp import Connection, Kind, Reply, deliver

if TYPE_CHECKING:  # the drain's rows; a sender process never imports the outbox (SQLAlchemy)
    from publisher.sending.outbox import Delivery

# delivery id, subscriber id, email, name, envelope, key of the edition (Delivery.edition)
SenderRow = tuple[int, int, str, str, str, str | None]
Outcome = tuple[int, Reply | None, str]  # delivery id, reply (None: not built), error
OnOutcomes = Callable[[list[tuple["Delivery", Reply | None, str]]], None]

# parent -> sender: ("rows", [SenderRow]) | ("gate", open) | ("end",)
# sender -> parent: ("results", [Outcome]) | ("unsent", [delivery id]) | ("stopped", sent, kB)
ROWS, GATE, END = "rows", "gate", "end"
RESULTS, UNSENT, STOPPED = "results", "unsent", "stopped"
MAX_RESTARTS = 3  # replacements per drain for senders that died; then the rest stay claimed
CREDIT_PER_CONNECTION = 4  # rows a sender may hold without a result, per connection
ORPHANED = 3  # a sender's exit status when its drain went away
RESULTS_AT = 32  # results a sender writes back at once …
RESULTS_EVERY = 0.02  # … or after this many seconds, whichever comes first


@dataclass(frozen=True)
class SenderSpec:
    """What a sender process needs, sent once when it starts: plain picklable data."""

    prepared: PreparedMessage
    context: SendContext
    domain: str
    dkim: tuple[KeySpec, ...] = field(repr=False)
    smtp: SmtpConfig
    secrets: Secrets = field(repr=False)
    connections: int
    translations: Mapping[str, PreparedMessage] = field(default_factory=dict)

    @classmethod
    def of(cls, builder: Builder, smtp: SmtpConfig, secrets: Secrets,
           connections: int) -> SenderSpec:
        personaliser = builder.personaliser
        return cls(builder.prepared, personaliser.context, personaliser.domain, builder.dkim,
                   smtp, secrets, connections, builder.translations)

    def builder(self) -> Builder:
        return make_builder(self.prepared, self.context, self.domain, self.dkim, self.secrets,
                            self.translations)


def sender_counts(processes: int, pool_size: int) -> tuple[int, int]:
    """(processes, connections each): never more processes than connections, and the
    pool split so that together they open at most one connection more per process."""
    processes = max(1, min(processes, pool_size))
    return processes, -(-pool_size // processes)


# --- the sender process ----------------------------------------------------------------


def child_main(fd: int) -> None:
    """Entry point of a sender process: read its spec from the pipe, send until told to end."""
    _die_with_parent()
    for signum in (signal.SIGINT, signal.SIGTERM):  # the drain decides when its senders end
        signal.signal(signum, signal.SIG_IGN)
    pipe = PipeEnd(fd)
    spec = pickle.loads(pipe.recv_bytes())
    asyncio.run(_SenderLoop(spec, pipe).run())


def _die_with_parent() -> None:
    if sys.platform != "linux":
        return
    pr_set_pdeathsig = 1
    ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)


class _SenderLoop:
    """A sender process's loop: `connections` tasks take rows while the gate is open."""

    def __init__(self, spec: SenderSpec, pipe: PipeEnd) -> None:
        self.spec, self.pipe = spec, pipe
        self.builder = spec.builder()
        self.rows: deque[SenderRow] = deque()
        self.open = True
        self.ending = False
        self.ready = asyncio.Event()
        self.results: list[Outcome] = []
        self.flush_due = False
        self.sent = 0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        loop.add_reader(self.pipe.fileno(), self._read)
        connections = [Connection(self.spec.smtp, self.spec.secrets)
                       for _ in range(self.spec.connections)]
        await asyncio.gather(*(self._send_with(c) for c in connections))
        loop.remove_reader(self.pipe.fileno())
        self._flush()
        await asyncio.gather(*(c.close() for c in connections))
        self.pipe.send((STOPPED, self.sent, _peak_rss_kb()))
        self.pipe.close()

    def _read(self) -> None:
        """Everything the drain wrote so far; its end closed means it died: exit now."""
        try:
            while self.pipe.poll():
                self._on(self.pipe.recv())
        except (EOFError, OSError):
            os._exit(ORPHANED)

    def _on(self, message: tuple[object, ...]) -> None:
        if message[0] == ROWS:
            self.rows.extend(message[1])  # type: ignore[arg-type]
        elif message[0] == GATE:
            self.open = bool(message[1])
        elif message[0] == END:  # hand nothing more over; give back what was never sent
            self.ending = True
            unsent = [row[0] for row in self.rows]
            self.rows.clear()
            self.pipe.send((UNSENT, unsent))
        if self.ending or (self.rows and self.open):
            self.ready.set()
        else:
            self.ready.clear()

    async def _send_with(self, connection: Connection) -> None:
        while True:
            await self.ready.wait()
            self._read()  # the drain may have closed the gate, ended, or died meanwhile
            if not (self.rows and self.open):
                if self.ending:
                    return
                continue
            row = self.rows.popleft()
            if not self.rows:
                self.ready.clear()
            self._add(await self._send_row(connection, row))

    async def _send_row(self, connection: Connection, row: SenderRow) -> Outcome:
        delivery_id, subscriber_id, email, name, envelope, language = row
        _, message, error = self.builder.attempt((delivery_id, subscriber_id, email, name),
                                                 language)
        if message is None:
            return delivery_id, None, error
        reply = await deliver(connection, envelope, email, message)
        if reply.kind is Kind.SENT:
            self.sent += 1
        return delivery_id, reply, ""

    def _add(self, outcome: Outcome) -> None:
        """Results travel together: RESULTS_AT of them, or what came within RESULTS_EVERY
        seconds (one pipe write and one wake-up of the drain for many messages)."""
        self.results.append(outcome)
        if len(self.results) >= RESULTS_AT:
            self._flush()
        elif not self.flush_due:
            self.flush_due = True
            asyncio.get_running_loop().call_later(RESULTS_EVERY, self._flush)

    def _flush(self) -> None:
        self.flush_due = False
        if self.results:
            results, self.results = self.results, []
            self.pipe.send((RESULTS, results))


# --- the drain's handle on its senders --------------------------------------------------


@dataclass
class Sender:
    """The drain's view of one sender process."""

    index: int
    process: subprocess.Popen[bytes]
    pipe: PipeEnd
    outstanding: dict[int, tuple[Delivery, str]] = field(default_factory=dict)
    ready: bool = False  # its spec was sent: it may be written to
    done: bool = False  # stopped or lost: nothing more comes from it

    def write(self, message: tuple[object, ...]) -> None:
        with contextlib.suppress(OSError):  # a dead sender is noticed by its reader
            self.pipe.send(message)


class Senders:
    """The drain's side: start the processes, hand rows to the one with the most free
    credit, relay the gate and the end, take results back, replace a sender that died."""

    def __init__(self, spec: SenderSpec, processes: int, on_outcomes: OnOutcomes) -> None:
        self.spec, self.processes, self.on_outcomes = spec, processes, on_outcomes
        self.pickled = pickle.dumps(spec)  # once: every sender (and replacement) gets it
        self.credit = CREDIT_PER_CONNECTION * spec.connections
        self.children: list[Sender] = []
        self.changed = asyncio.Event()
        self.open = True
        self.ended = False
        self.restarts = 0
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def started(self) -> bool:
        return bool(self.children)

    def start(self) -> None:
        for index in range(self.processes):
            self._launch(index, [])

    def _launch(self, index: int, rows: list[tuple[Delivery, str]]) -> None:
        """Start sender `index` (again), holding `rows` once it is ready."""
        parent_end, child_end = Pipe()
        process = subprocess.Popen(
            [sys.executable, "-c",
             "from publisher.sending.sender_processes import child_main; "
             f"child_main({child_end.fileno()})"],
            pass_fds=(child_end.fileno(),), stdin=subprocess.DEVNULL)
        child_end.close()
        child = Sender(index, process, parent_end, {row[0].id: row for row in rows})
        if index < len(self.children):
            self.children[index] = child
        else:
            self.children.append(child)
        log_event("sender_started", index=index, pid=process.pid)
        task = asyncio.create_task(self._introduce(child, rows))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _introduce(self, child: Sender, rows: list[tuple[Delivery, str]]) -> None:
        """Send the spec (large: written from a thread while the sender imports), then
        the gate, the rows it inherits, or the end."""
        try:
            await asyncio.to_thread(child.pipe.send_bytes, self.pickled)
        except OSError:
            pass  # it died starting; its reader says so
        asyncio.get_running_loop().add_reader(child.pipe.fileno(), self._readable, child)
        child.ready = True
        if not self.open:
            child.write((GATE, False))
        if rows:
            child.write((ROWS, [_row(d, envelope) for d, envelope in rows]))
        if self.ended:
            child.write((END,))
        self.changed.set()

    def free(self) -> tuple[Sender | None, int]:
        """The ready sender with the most free credit, and that credit."""
        best, most = None, 0
        for child in self.children:
            room = self.credit - len(child.outstanding)
            if child.ready and not child.done and room > most:
                best, most = child, room
        return best, most

    @property
    def outstanding(self) -> int:
        return sum(len(c.outstanding) for c in self.children if not c.done)

    @property
    def broken(self) -> bool:
        """Every sender died and none may be started again."""
        return self.started and all(c.done for c in self.children) and not self.ended

    def hand(self, child: Sender, rows: Sequence[tuple[Delivery, str]]) -> None:
        for row in rows:
            child.outstanding[row[0].id] = row
        child.write((ROWS, [_row(d, envelope) for d, envelope in rows]))

    def gate(self, open_: bool) -> None:
        if open_ != self.open and not self.ended:
            self.open = open_
            for child in self.children:
                if child.ready and not child.done:
                    child.write((GATE, open_))

    def end(self) -> None:
        """No more rows: each sender gives back what it holds unsent and stops."""
        if not self.ended:
            self.ended = True
            for child in self.children:
                if child.ready and not child.done:
                    child.write((END,))
            self.changed.set()

    def wake(self) -> None:
        """Wake whoever waits in wait_changed (the drain made room)."""
        self.changed.set()

    async def wait_changed(self) -> None:
        """Until a result, a sender's start or loss, or the end; check before calling."""
        self.changed.clear()
        await self.changed.wait()

    async def close(self) -> None:
        """End every sender, wait for each to stop (its in-flight sends finish), reap them."""
        self.end()
        while any(not c.done for c in self.children):
            await self.wait_changed()
        for task in list(self._tasks):
            await task
        for child in self.children:
            await asyncio.to_thread(_reap, child.process)

    def _readable(self, child: Sender) -> None:
        try:
            while not child.done and child.pipe.poll():
                self._on(child, child.pipe.recv())
        except (EOFError, OSError):
            self._lost(child)

    def _on(self, child: Sender, message: tuple[object, ...]) -> None:
        if message[0] == RESULTS:
            outcomes = []  # a batch at once: one gate decision and one wake-up for all
            for delivery_id, reply, error in message[1]:  # type: ignore[attr-defined]
                delivery, _envelope = child.outstanding.pop(delivery_id)
                outcomes.append((delivery, reply, error))
            self.on_outcomes(outcomes)
        elif message[0] == UNSENT:  # they stay claimed: the drain releases them
            for delivery_id in message[1]:  # type: ignore[attr-defined]
                child.outstanding.pop(delivery_id, None)
        elif message[0] == STOPPED:
            self._detach(child)
            log_event("sender_stopped", index=child.index, pid=child.process.pid,
                      sent=message[1], peak_rss_mb=round(int(message[2]) / 1024, 1))  # type: ignore[call-overload]
        self.changed.set()

    def _detach(self, child: Sender) -> None:
        child.done = True
        asyncio.get_running_loop().remove_reader(child.pipe.fileno())
        child.pipe.close()

    def _lost(self, child: Sender) -> None:
        """A sender died: what it held may have been sent. A replacement sends it again
        (the same Message-ID); once stopping, or out of restarts, it stays claimed."""
        self._detach(child)
        rows = list(child.outstanding.values())
        child.outstanding.clear()
        log_event("sender_lost", index=child.index, pid=child.process.pid,
                  outstanding=len(rows))
        if not self.ended and self.restarts < MAX_RESTARTS:
            self.restarts += 1
            self._launch(child.index, rows)
        self.changed.set()


def _peak_rss_kb() -> int:
    """This process's peak RSS. ru_maxrss would carry over the drain's own peak (Linux keeps
    the high-water mark across the fork and exec that started us); VmHWM is ours alone."""
    with contextlib.suppress(OSError):
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _row(delivery: Delivery, envelope: str) -> SenderRow:
    return (delivery.id, delivery.subscriber_id, delivery.email, delivery.name, envelope,
            delivery.edition)


def _reap(process: subprocess.Popen[bytes]) -> None:
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:  # stopped but not exiting: do not wait on it forever
        process.kill()
        process.wait()
