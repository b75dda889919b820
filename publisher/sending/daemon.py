"""`publisher run`: the long-running daemon, on the `schedule` package.

Each tick: rebuild when issue files changed; start the send of every non-draft issue whose
`send_at` has passed within `[sending] catch_up_hours` and that has no send yet (older ones,
a migrated archive or a daemon stopped for a month, are logged as missed, never mailed
unasked; an issue file that cannot be read is logged once as `send_refused` and never
sent); enrol subscribers into automation steps (publisher.sending.enrolment; a broken
step file is logged once and nothing is enrolled until it is fixed); send the one-off mails
that are due (confirmations, publisher.sending.oneoff), deliver the webhook events that are
due (publisher.sending.webhooks, for at most a quarter of a round), then drain every other active
send (queued rows, interrupted claims, deferred rows that are due). Worker mode only
drains, so any number of workers (PostgreSQL: FOR UPDATE SKIP LOCKED) share the sends one
scheduler starts.
Under `run_forever` a tick is a round of at most about one interval: the active sends take
turns, oldest first, each for an equal share of the round (a turn stops claiming when its
share is up and sends the batch in hand), and while a turn ran out with rows perhaps still
due the next round starts at once. So an issue that falls due, a resumed send and a new
subscriber's step wait at most one round, however long the sends already draining are;
sends due together share the connections turn by turn. A single tick (`--once`, tests)
drains each send to its end.
A paused or cancelled send is never drained nor started again (a send row of any state
means started); a drain that sees the pause or cancel stops and is logged as
`send_paused` / `send_cancelled`, and so is a send this daemon drained in its last round
that was paused or cancelled between two of its turns. Each tick also settles what
cancelled sends left open.
A database outage of any length is logged and waited out; only a signal ends the daemon.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import FrameType

import schedule
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from publisher.config import Config, Secrets
from publisher.content.issues import issue_files, read_issues
from publisher.db import upgrade
from publisher.errors import DatabaseFault, Problem, PublisherError
from publisher.logs import log_event
from publisher.outage import is_transient, outages, reason
from publisher.sending import control, enrolment, metrics, oneoff, outbox, webhooks
from publisher.sending.drain import options_from
from publisher.sending.outbox import Result
from publisher.sending.send_issue import due_and_missed, ready, run_send, start_or_join
from publisher.site.build import build_site

MIN_TURN_SECONDS = 1.0  # a send's turn starts SMTP connections (and sender processes)
WEBHOOK_SHARE = 0.25  # of a round, at most, for webhook deliveries: sends keep flowing


def sources_stamp(config: Config) -> tuple[tuple[str, int, int], ...]:
    """Cheap change detection: names, sizes and mtimes of the issue files."""
    stamps = []
    for path in issue_files([config.issues_dir]):
        stat = path.stat()
        stamps.append((path.name, stat.st_size, stat.st_mtime_ns))
    return tuple(stamps)


@dataclass
class Daemon:
    """One tick is everything the daemon does; the clock is injected for tests."""

    config: Config
    secrets: Secrets
    engine: Engine
    clock: Callable[[], datetime]
    worker: bool = False
    stop: threading.Event = field(default_factory=threading.Event)
    _stamp: tuple[tuple[str, int, int], ...] | None = None
    _schema_ready: bool = False
    _unrecorded: list[Result] = field(default_factory=list)
    _missed_logged: set[str] = field(default_factory=set)
    _refused_logged: set[str] = field(default_factory=set)
    _automation_error: str | None = None
    _oneoffs: oneoff.OneOffs | None = None
    _drained_last_round: dict[int, str] = field(default_factory=dict)  # send id -> slug
    _webhooks: webhooks.Deliverer | None = None
    round_seconds: float | None = None  # run_forever: its interval; None: drain to the end
    busy: bool = False  # the last round ended a turn early: the next one starts at once

    def tick(self) -> None:
        """One round. A database fault never ends the daemon: it is logged once, and the
        next tick tries again; results that could not be written are kept until then."""
        self.busy = False
        try:
            self._tick()
        except DatabaseFault as exc:  # a drain gave up waiting
            self._unrecorded.extend(exc.unrecorded)
            self._log_fault(exc)
        except (sa.exc.DBAPIError, sa.exc.TimeoutError) as exc:
            self._log_fault(exc)

    def _log_fault(self, exc: Exception) -> None:
        if is_transient(exc):
            outages.failed(exc)
        else:
            log_event("database_error", error=type(exc).__name__, reason=reason(exc))

    def _tick(self) -> None:
        now = self.clock()
        metrics.PROCESS.ticked(now)  # /metrics: publisher_scheduler_last_tick_timestamp_seconds
        if not self._schema_ready:
            upgrade(self.engine)
            self._schema_ready = True
        options = options_from(self.config)
        if self._unrecorded:  # before any claim, so that none of these is sent again
            outbox.record_results(self.engine, self._unrecorded, now, options.worker,
                                  options.hard_bounce_threshold)
            self._unrecorded.clear()
        if not self.worker:
            self._rebuild_if_changed(now)
            self._start_due_sends(now)
            self._enrol(now)
        settled = control.settle_cancelled(self.engine, now, options.lease)
        if settled:
            log_event("cancelled_rows_settled", rows=settled)
        self._drain_active()

    def _drain_active(self) -> None:
        """Each active send takes its turn, oldest first, for an equal share of what is left
        of the round (`round_seconds`); without a round, each drains to its end."""
        active = outbox.active_sends(self.engine)
        outages.recovered()
        self._log_halted_between_turns(dict(active))
        self._send_oneoffs()
        self._deliver_webhooks()
        sends = [(send_id, slug) for send_id, slug in active if not oneoff.is_oneoff(slug)]
        end = None if self.round_seconds is None else time.monotonic() + self.round_seconds
        for turn, (send_id, slug) in enumerate(sends):
            if self.stop.is_set():
                return
            share = None if end is None else max(
                MIN_TURN_SECONDS, (end - time.monotonic()) / (len(sends) - turn))
            options = options_from(self.config, seconds=share)
            counts = run_send(self.engine, self.config, self.secrets, send_id, self.clock,
                              options, stop_when=self.stop)
            self.busy = self.busy or options.ran_out  # rows may still be due
            state = control.send_state(self.engine, send_id)
            halted = state in (outbox.SEND_PAUSED, outbox.SEND_CANCELLED)
            log_event(f"send_{state}" if halted else "drained", issue=slug, **counts)
            if not halted:
                self._drained_last_round[send_id] = slug

    def _log_halted_between_turns(self, active: dict[int, str]) -> None:
        """A send drained last round and no longer active was paused, cancelled or
        finished by someone else while this daemon waited for its turn: say which."""
        left = {i: slug for i, slug in self._drained_last_round.items() if i not in active}
        self._drained_last_round = {}
        for send_id, slug in left.items():
            state = control.send_state(self.engine, send_id)
            if state in (outbox.SEND_PAUSED, outbox.SEND_CANCELLED):
                log_event(f"send_{state}", issue=slug, **outbox.counts(self.engine, send_id))

    def _send_oneoffs(self) -> None:
        """Confirmations first: an issue's drain may take hours."""
        if self._oneoffs is None:
            self._oneoffs = oneoff.OneOffs(self.engine, self.config, self.secrets, self.clock)
        settled = asyncio.run(self._oneoffs.drain())
        if settled:
            log_event("oneoff_drained", send=oneoff.CONFIRM, **settled)

    def _deliver_webhooks(self) -> None:
        """Due webhook deliveries, for at most WEBHOOK_SHARE of the round (all of them
        without a round); the endpoints the config names are synced first."""
        if self._webhooks is None:
            self._webhooks = webhooks.Deliverer(self.engine, self.config, self.clock)
        self._webhooks.sync()
        if not self.config.settings.webhooks:
            return
        deadline = None if self.round_seconds is None else (
            time.monotonic() + max(MIN_TURN_SECONDS, self.round_seconds * WEBHOOK_SHARE))
        settled, ran_out = self._webhooks.run(deadline, time.monotonic)
        self.busy = self.busy or ran_out
        if settled:
            log_event("webhooks_delivered", rows=settled)

    def _rebuild_if_changed(self, now: datetime) -> None:
        stamp = sources_stamp(self.config)
        if stamp == self._stamp:
            return
        try:
            report = build_site(self.config, now)
            log_event("built", issues=len(report.issues), changed=len(report.written))
            self._stamp = stamp
        except PublisherError as exc:  # a broken file: report, keep serving what was built
            log_event("build_failed", error=str(exc))

    def _start_due_sends(self, now: datetime) -> None:
        issues, problems, failed = read_issues([self.config.issues_dir])
        self._log_unreadable([p for p in problems if Path(p.path) in failed])
        window = timedelta(hours=self.config.settings.sending.catch_up_hours)
        due, missed = due_and_missed(issues, outbox.send_slugs(self.engine), now, window)
        for issue in missed:
            if issue.slug not in self._missed_logged:
                self._missed_logged.add(issue.slug)
                log_event("send_missed", issue=issue.slug, send_at=issue.meta.send_at,
                          hint=f"older than catch_up_hours; `publisher send {issue.slug}` "
                               "sends it")
        for issue in due:
            try:
                send_id, created = start_or_join(self.engine, self.config,
                                                 ready(self.config, issue.path), now)
            except PublisherError as exc:  # never half-send a broken issue
                log_event("send_refused", issue=issue.slug, error=str(exc))
                continue
            if created:
                log_event("send_started", issue=issue.slug, send_id=send_id,
                          audience=sum(outbox.counts(self.engine, send_id).values()))
            else:
                log_event("send_joined", issue=issue.slug, send_id=send_id,
                          detail="another process started this send a moment ago")

    def _log_unreadable(self, problems: list[Problem]) -> None:
        """An issue file that cannot be read is never sent: say so once per problem."""
        for problem in problems:
            if str(problem) not in self._refused_logged:
                self._refused_logged.add(str(problem))
                log_event("send_refused", issue=Path(problem.path).name, error=str(problem),
                          detail="no send of this file starts until it is fixed")

    def _enrol(self, now: datetime) -> None:
        try:
            added = enrolment.run_automations(self.engine, self.config, now)
        except PublisherError as exc:  # a broken step file: say so once, enrol nobody
            if str(exc) != self._automation_error:
                log_event("automations_refused", error=str(exc))
            self._automation_error = str(exc)
            return
        self._automation_error = None
        for slug, count in added.items():
            if count:
                log_event("enrolled", send=slug, subscribers=count)

    def run_forever(self, interval_seconds: float) -> None:
        """Tick now and every interval until SIGTERM/SIGINT; the current tick finishes first."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)
        self.round_seconds = interval_seconds
        job = schedule.every(max(1, round(interval_seconds))).seconds.do(self.tick)
        self.tick()
        while not self.stop.is_set():
            if self.busy:  # rows may still be due: the next round at once, not in a minute
                self.tick()
                continue
            schedule.run_pending()
            self.stop.wait(min(1.0, interval_seconds))
        schedule.cancel_job(job)
        log_event("stopped")

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log_event("stopping", signal=signal.Signals(signum).name)
        self.stop.set()


