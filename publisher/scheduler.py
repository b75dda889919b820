"""`publisher run`: the long-running daemon, on the `schedule` package.

Each tick: rebuild when issue files changed; start the send of every non-draft issue whose
`send_at` has passed and that has no send yet; drain every active send (queued rows,
interrupted claims, deferred rows that are due). Worker mode only drains, so any number of
workers (PostgreSQL: FOR UPDATE SKIP LOCKED) share the sends one scheduler starts.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from types import FrameType

import schedule
from sqlalchemy.engine import Engine

from publisher import outbox
from publisher.build import build_site
from publisher.campaign import ready, run_send, start
from publisher.config import Config, Secrets
from publisher.errors import PublisherError
from publisher.issues import issue_files, read_issues
from publisher.sending import options_from

log = logging.getLogger("publisher.run")


def log_event(event: str, **fields: object) -> None:
    """One structured (JSON) log line per event."""
    log.info(json.dumps({"event": event, **fields}, ensure_ascii=False, default=str))


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

    def tick(self) -> None:
        now = self.clock()
        if not self.worker:
            self._rebuild_if_changed(now)
            self._start_due_sends(now)
        for send_id, slug in outbox.active_sends(self.engine):
            if self.stop.is_set():
                return
            counts = run_send(self.engine, self.config, self.secrets, send_id, self.clock,
                              options_from(self.config))
            log_event("drained", issue=slug, **counts)

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
        issues, _problems, _failed = read_issues([self.config.issues_dir])
        started = outbox.send_slugs(self.engine)
        for issue in issues:
            due = issue.meta.send_at is not None and issue.meta.send_at <= now
            if not due or issue.meta.draft or issue.slug in started:
                continue
            try:
                send_id = start(self.engine, self.config, ready(self.config, issue.path), now)
                log_event("send_started", issue=issue.slug, send_id=send_id,
                          audience=sum(outbox.counts(self.engine, send_id).values()))
            except PublisherError as exc:  # never half-send a broken issue
                log_event("send_refused", issue=issue.slug, error=str(exc))

    def run_forever(self, interval_seconds: float) -> None:
        """Tick now and every interval until SIGTERM/SIGINT; the current tick finishes first."""
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._on_signal)
        job = schedule.every(max(1, round(interval_seconds))).seconds.do(self.tick)
        self.tick()
        while not self.stop.is_set():
            schedule.run_pending()
            self.stop.wait(min(1.0, interval_seconds))
        schedule.cancel_job(job)
        log_event("stopped")

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        log_event("stopping", signal=signal.Signals(signum).name)
        self.stop.set()


