"""`publisher automations list|status|enable|disable`: the step files, where each step
stands, and switching a step off and on."""

from __future__ import annotations

from collections.abc import Sequence

import click
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from publisher.commands.context import Context
from publisher.content.automations import SEND_PREFIX, Step, delay_label, read_steps, step_slug
from publisher.content.plaintext import display_width
from publisher.errors import DatabaseFault, IssueFileError
from publisher.outage import reason
from publisher.sending import enrolment, outbox
from publisher.sending.enrolment import step_statuses


def _table(rows: Sequence[tuple[str, ...]]) -> None:
    """Columns aligned by display width (a CJK character takes two cells)."""
    widths = [max(display_width(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (cell + " " * (width - display_width(cell))
                 for cell, width in zip(row, widths, strict=True))
        click.echo("  ".join(cells).rstrip())


def _stored(context: Context) -> Engine | None:
    """The database to compare step files with: None when there is none yet, or when it
    cannot be reached (said in one line: the files themselves are still fine)."""
    try:
        return context.stored_engine()
    except (sa.exc.SQLAlchemyError, DatabaseFault) as exc:
        _warn(f"switches and renamed steps not looked up: the database is unreachable "
              f"({reason(exc)})")
        return None


def _warn(line: str) -> None:
    click.echo(f"warning: {line}", err=True)


def print_rename_warnings(context: Context, steps: list[Step],
                          engine: Engine | None = None) -> None:
    """Warn (stderr) about step files that repeat a step already sent under another name."""
    engine = engine or (_stored(context) if steps else None)
    for line in enrolment.rename_warnings(engine, steps) if engine is not None else []:
        _warn(line)


@click.group("automations")
def automations_group() -> None:
    """Welcome mails and sequence steps (the automations/ folder)."""


@automations_group.command("list")
@click.pass_obj
def list_command(context: Context) -> None:
    """The step files in sending order: delay, subject, flags."""
    config = context.config
    if not config.automations_dir.is_dir():
        click.echo(f"no automations: {config.automations_dir} does not exist")
        return
    steps, problems, _failed = read_steps([config.automations_dir])
    if problems:
        raise IssueFileError(problems)
    engine = _stored(context)
    disabled = enrolment.disabled_steps(engine) if engine is not None else set()
    rows = [("step", "after", "subject", "flags", "file")]
    for step in steps:
        flags = [flag for flag, on in (("draft", step.meta.draft),
                                       ("disabled", step.send_slug in disabled),
                                       ("latest-issue", step.meta.send_latest_issue)) if on]
        rows.append((step.name, delay_label(step.delay), step.meta.title,
                     ",".join(flags) or "-", str(step.path)))
    _table(rows)
    print_rename_warnings(context, steps, engine)


@automations_group.command("status")
@click.pass_obj
def status_command(context: Context) -> None:
    """Per step: on or off (draft, disabled, file removed), its send's state, sent, failed,
    due now and pending (due later)."""
    config = context.config
    statuses = step_statuses(context.engine, config, context.clock())
    if not statuses:
        click.echo("no automation steps")
        return
    rows = [("step", "after", "switch", "state", "sent", "failed", "due", "pending")]
    for status in statuses:
        after = delay_label(status.step.delay) if status.step else "-"
        rows.append((status.slug, after, f"off ({status.off})" if status.off else "on",
                     status.state, str(status.sent), str(status.failed), str(status.due),
                     str(status.pending)))
    _table(rows)


@automations_group.command("disable")
@click.argument("step")
@click.pass_obj
def disable_command(context: Context, step: str) -> None:
    """Switch STEP off: nobody else is enrolled in it until `enable` (rows already in the
    outbox still go; `publisher cancel automation:STEP` ends them)."""
    config = context.config
    engine = context.engine
    found = enrolment.switch(engine, config, step, False, context.clock())
    slug = found.send_slug if found else step_slug(step)
    send_id = outbox.find_send(engine, slug)
    left = outbox.remaining(outbox.counts(engine, send_id)) if send_id is not None else 0
    click.echo(f"disabled {slug}: nobody else is enrolled until `publisher automations "
               f"enable {slug.removeprefix(SEND_PREFIX)}`" + (
                   f"; {left} already in the outbox still go (`publisher cancel {slug}` "
                   "ends them)" if left else ""))


@automations_group.command("enable")
@click.argument("step")
@click.pass_obj
def enable_command(context: Context, step: str) -> None:
    """Switch STEP back on: from the next round it reaches readers whose due time is within
    `catch_up_hours` of now, as a new step would (not everyone who confirmed meanwhile)."""
    config = context.config
    found = enrolment.switch(context.engine, config, step, True, context.clock())
    slug = found.send_slug if found else step_slug(step)
    note = "" if found is not None and not found.meta.draft else (
        f"; its file is {'a draft' if found else 'missing'}, so it stays off until "
        f"{'draft: true is removed' if found else 'the file is back'}")
    click.echo(f"enabled {slug}: readers due within catch_up_hours of the next round get "
               f"it{note}")


COMMANDS: list[click.Command] = [automations_group]
