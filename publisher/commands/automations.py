"""`publisher automations list|status`: the step files, and where each step stands."""

from __future__ import annotations

from collections.abc import Sequence

import click

from publisher.clock import utc_now
from publisher.config import Config
from publisher.content.automations import delay_label, read_steps
from publisher.content.plaintext import display_width
from publisher.db import open_configured
from publisher.errors import IssueFileError
from publisher.sending.enrolment import step_statuses


def _table(rows: Sequence[tuple[str, ...]]) -> None:
    """Columns aligned by display width (a CJK character takes two cells)."""
    widths = [max(display_width(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (cell + " " * (width - display_width(cell))
                 for cell, width in zip(row, widths, strict=True))
        click.echo("  ".join(cells).rstrip())


@click.group("automations")
def automations_group() -> None:
    """Welcome mails and sequence steps (the automations/ folder)."""


@automations_group.command("list")
@click.pass_obj
def list_command(config: Config) -> None:
    """The step files in sending order: delay, subject, flags."""
    if not config.automations_dir.is_dir():
        click.echo(f"no automations: {config.automations_dir} does not exist")
        return
    steps, problems, _failed = read_steps([config.automations_dir])
    if problems:
        raise IssueFileError(problems)
    rows = [("step", "after", "subject", "flags", "file")]
    for step in steps:
        flags = [flag for flag, on in (("draft", step.meta.draft),
                                       ("latest-issue", step.meta.send_latest_issue)) if on]
        rows.append((step.name, delay_label(step.delay), step.meta.title,
                     ",".join(flags) or "-", str(step.path)))
    _table(rows)


@automations_group.command("status")
@click.pass_obj
def status_command(config: Config) -> None:
    """Per step: its send's state, sent, failed, due now and pending (due later)."""
    statuses = step_statuses(open_configured(config), config, utc_now())
    if not statuses:
        click.echo("no automation steps")
        return
    rows = [("step", "after", "state", "sent", "failed", "due", "pending")]
    for status in statuses:
        after = delay_label(status.step.delay) if status.step else "(file removed)"
        rows.append((status.slug, after, status.state, str(status.sent), str(status.failed),
                     str(status.due), str(status.pending)))
    _table(rows)


COMMANDS: list[click.Command] = [automations_group]
