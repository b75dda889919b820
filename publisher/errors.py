"""One hierarchy of errors; each knows where the problem is and how to say it in one line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

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

    http_status = 500


class IssueFileError(PublisherError):
    """An issue file (or a set of them) has one or more located problems."""

    http_status = 400

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class ConfigError(PublisherError):
    """publisher.toml or the environment is wrong; the message names the key."""


class StoreError(PublisherError):
    """The subscriber store or outbox refused an operation."""


class InvalidAddress(PublisherError):
    """An email address or display name was rejected."""

    http_status = 400


class BadToken(PublisherError):
    """A signed token was tampered with, expired, or meant for another purpose."""

    http_status = 400


class SendError(PublisherError):
    """Sending could not start or continue."""
