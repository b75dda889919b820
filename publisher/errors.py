"""One hierarchy of errors; each knows where the problem is and how to say it in one line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click


@dataclass(frozen=True)
class Problem:
    """One located problem: file, optional line, optional field, message."""

    path: Path | str
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = str(self.path)
        if self.line is not None:
            where += f":{self.line}"
        what = f"{self.field}: {self.message}" if self.field else self.message
        return f"{where}: {what}"


class PublisherError(click.ClickException):
    """Base class: the CLI prints the message as one clear line and exits non-zero."""


class IssueFileError(PublisherError):
    """An issue file (or a set of them) has one or more located problems."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ConfigError(PublisherError):
    """publisher.toml or the environment is wrong; the message names the key."""


class StoreError(PublisherError):
    """The subscriber store or outbox refused an operation."""


class InvalidAddress(PublisherError):
    """An email address or display name was rejected."""


class BadToken(PublisherError):
    """A signed token was tampered with, expired, or meant for another purpose."""


class SendError(PublisherError):
    """Sending could not start or continue."""


class SendNotFound(SendError):
    """No send has this id (the web answers 404)."""


EX_IOERR, EX_TEMPFAIL = 74, 75  # sysexits.h: a full disk; try again later

_FAULT_LINES = {
    "unavailable": ("database unavailable: {reason}; nothing was lost, "
                    "run the same command again to resume", EX_TEMPFAIL),
    "locked": ("database is locked by another process: {reason}; nothing was lost, "
               "run the same command again to resume", EX_TEMPFAIL),
    "full": ("database disk is full: {reason}; nothing was lost, free some space and "
             "run the same command again to resume", EX_IOERR),
    "error": ("database error: {reason}", 1),
}


class DatabaseFault(PublisherError):
    """The database failed and we gave up waiting: one line, no SQL, a distinct exit code.

    `unrecorded` holds results of SMTP transactions that ended while nothing could be
    written, so a process that lives on (the daemon) can write them when the database is back.
    `http_status` is what the web layer answers (with Retry-After) while the database is away.
    """

    http_status = 503

    def __init__(self, fault: str, reason: str, unrecorded: list[Any] | None = None) -> None:
        line, code = _FAULT_LINES[fault]
        self.fault, self.reason = fault, reason
        self.unrecorded: list[Any] = unrecorded or []
        super().__init__(line.format(reason=reason))
        setattr(self, "exit_code", code)  # noqa: B010 - click reads it per instance
