"""Verbs that steer a running send: pause, resume, cancel.

The state lives in the `sends` row, so every process honours it: a draining process reads
it before each claim and about twice a second, and stops handing messages to SMTP within
moments. Each verb changes that row through the outbox and prints one line.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import click
from sqlalchemy.engine import Engine

from publisher.commands.context import Context
from publisher.content.automations import SEND_PREFIX
from publisher.sending import control, outbox


def cancelled_line(slug: str, done: control.CancelOutcome) -> str:
    """What a cancel left: the same count the console's notice gives."""
    return (f"cancelled {slug}: {done.sent} sent, {done.cancelled} cancelled (final)"
            + (f"; {done.in_flight} in flight are settled by their process"
               if done.in_flight else ""))


def _send_of(engine: Engine, issue: str) -> tuple[str, int, str]:
    """(slug, send id, state) of ISSUE, a slug or an issue file's path."""
    slug = Path(issue).stem if issue.endswith(".md") else issue
    send_id = outbox.find_send(engine, slug)
    if send_id is None:
        what = "this step has no send yet" if slug.startswith(SEND_PREFIX) else (
            "this issue has not been sent")
        raise click.ClickException(f"{slug}: {what} (no send to control)")
    return slug, send_id, control.send_state(engine, send_id)


def _refused(engine: Engine, send_id: int, what: str) -> click.ClickException:
    """The send was not in the state the verb needs: say which state it is in."""
    return click.ClickException(control.refusal(engine, send_id, what))


@click.command("pause")
@click.argument("issue")
@click.pass_obj
def pause_command(context: Context, issue: str) -> None:
    """Stop ISSUE's send: no new claim; every process settles what is on the wire."""
    engine = context.engine
    slug, send_id, _state = _send_of(engine, issue)
    if not control.pause(engine, send_id, context.clock()):
        raise _refused(engine, send_id, control.ONLY_SENDING)
    counts = outbox.counts(engine, send_id)
    left = outbox.remaining(counts)
    click.echo(f"paused {slug}: {counts[outbox.SENT]} sent, {left} left; "
               f"`publisher resume {slug}` continues")


@click.command("resume")
@click.argument("issue")
@click.pass_obj
def resume_command(context: Context, issue: str) -> None:
    """Let a paused send continue exactly where it stopped."""
    engine = context.engine
    slug, send_id, _state = _send_of(engine, issue)
    if not control.resume(engine, send_id):
        raise _refused(engine, send_id, control.ONLY_PAUSED)
    counts = outbox.counts(engine, send_id)
    left = outbox.remaining(counts)
    click.echo(f"resumed {slug}: {counts[outbox.SENT]} sent, {left} left; a running "
               f"`publisher run` sends them, or `publisher send {slug}`")


@click.command("cancel")
@click.argument("issue")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_obj
def cancel_command(context: Context, issue: str, yes: bool) -> None:
    """End ISSUE's send for good: its queued and deferred rows are never sent."""
    config = context.config
    engine = context.engine
    slug, send_id, state = _send_of(engine, issue)
    if state not in (outbox.SEND_ACTIVE, outbox.SEND_PAUSED):
        raise _refused(engine, send_id, control.ONLY_OPEN)
    left = outbox.remaining(outbox.counts(engine, send_id))
    if not yes and not click.confirm(f"Cancel {slug} for good? {left} deliveries not yet "
                                     "sent will never be sent", default=False):
        raise click.Abort()
    done = control.cancel_and_settle(engine, send_id, context.clock(), timedelta(
        seconds=config.settings.sending.lease_seconds))
    if done is None:  # it ended meanwhile
        raise _refused(engine, send_id, control.ONLY_OPEN)
    click.echo(cancelled_line(slug, done) + control.step_note(slug))

COMMANDS: list[click.Command] = [pause_command, resume_command, cancel_command]
