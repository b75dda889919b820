"""Verbs that send: send (an issue, a test copy, or an automation step's rows) and retry.

Each verb asks publisher.sending.plan what it will do, then drains in the foreground.
A foreground `send` draws its progress bar on a terminal only, counting delivered mail;
its log lines go to stderr, printed above the bar while it is drawn, never through it.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from publisher.commands.context import Context
from publisher.content.automations import SEND_PREFIX
from publisher.mail.smtp import Kind
from publisher.outage import RetryPolicy, retry
from publisher.sending import outbox
from publisher.sending.drain import options_from
from publisher.sending.plan import (
    IssuePlan,
    leftover,
    plan_issue_send,
    plan_step_send,
    requeue_failed,
)
from publisher.sending.send_issue import (
    Ready,
    ready,
    resolve_issue_path,
    run_send,
    send_test_copy,
    start,
)

console = Console(stderr=True)


def _progress_printer(total: int) -> tuple[Progress, Callable[[dict[str, int]], None]]:
    """The send's bar, drawn on a terminal only; it advances with delivered mail."""
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                        TextColumn("{task.completed}/{task.total} sent"),
                        TextColumn("deferred {task.fields[deferred]} · failed "
                                   "{task.fields[failed]}"),
                        TimeRemainingColumn(), console=console, transient=False,
                        disable=not console.is_terminal)
    task = progress.add_task("sending", total=total, deferred=0, failed=0)

    def update(counts: dict[str, int]) -> None:
        progress.update(task, completed=counts["sent"], deferred=counts["deferred"],
                        failed=counts["failed"])

    return progress, update


class _AboveTheBar(logging.Handler):
    """Prints each log line through the bar's console: above the bar, whole (not wrapped
    at the terminal's width, so it stays one JSON line)."""

    def __init__(self, replaced: logging.Handler) -> None:
        super().__init__(replaced.level)
        self.setFormatter(replaced.formatter)

    def emit(self, record: logging.LogRecord) -> None:
        console.print(self.format(record), markup=False, highlight=False, emoji=False,
                      soft_wrap=True)


@contextmanager
def _drawn(progress: Progress) -> Iterator[None]:
    """Draw the bar; while it is drawn, log lines meant for stderr are printed above it."""
    root = logging.getLogger()
    moved = [handler for handler in root.handlers if console.is_terminal
             and isinstance(handler, logging.StreamHandler) and handler.stream is sys.stderr]
    above = [_AboveTheBar(handler) for handler in moved]
    with progress:
        for old, new in zip(moved, above, strict=True):
            root.removeHandler(old)
            root.addHandler(new)
        try:
            yield
        finally:
            for old, new in zip(moved, above, strict=True):
                root.removeHandler(new)
                root.addHandler(old)


@click.command("send")
@click.argument("issue")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--dry-run", is_flag=True, help="Say what would happen; send nothing.")
@click.option("--to", "test_address", default=None, help="Send one test copy to ADDRESS only.")
@click.option("--wait", is_flag=True,
              help="Stay until no row is queued, sending or deferred (or Ctrl-C).")
@click.option("--audience", "audience_text", metavar="EXPR", default=None,
              help="Only subscribers whose tags match EXPR (instead of the issue's audience).")
@click.pass_obj
def send_command(context: Context, issue: str, yes: bool, dry_run: bool,
                 test_address: str | None, wait: bool, audience_text: str | None) -> None:
    """Send ISSUE (a slug or a path) to its audience (every confirmed subscriber unless it
    names one), exactly once each; `automation:<step>` sends what that step has queued."""
    if issue.startswith(SEND_PREFIX):
        if test_address or audience_text:
            raise click.UsageError("--to and --audience are for issues: a step goes to the "
                                   "readers enrolled in it")
        _send_step(context, issue, yes, dry_run, wait)
        return
    config = context.config
    item = ready(config, resolve_issue_path(config, issue))
    context.require_signing_key()
    engine = context.engine
    if test_address:
        _send_test_copy(context, item, test_address)
        return
    plan = plan_issue_send(engine, config, item, audience_text, context.clock())
    summary = _summary(context, item, plan)
    suffix = f" (audience `{plan.expression}`)" if plan.expression is not None else ""
    if dry_run:
        click.echo(f"dry run: {summary}; email HTML {item.rendered.html_bytes} bytes")
        if plan.expression is not None:
            click.echo(f"would send to {plan.size} of {plan.confirmed} confirmed subscribers: "
                       f"audience `{plan.expression}`")
        return
    if not yes and not click.confirm(summary + suffix + "?", default=False):
        raise click.Abort()
    policy = RetryPolicy(config.settings.database.outage_seconds)
    send_id = retry(partial(start, engine, config, item, context.clock(), audience_text),
                    policy)
    _drain(context, item.issue.slug, send_id, wait)


def _summary(context: Context, item: Ready, plan: IssuePlan) -> str:
    """The confirmation's question and the dry run's line, without the audience."""
    verb = "Resume" if plan.send_id is not None else "Send"
    smtp = context.config.settings.smtp
    return f"{verb} {item.issue.title!r} to {plan.size} subscriber(s) via {smtp.host}:{smtp.port}"


def _send_step(context: Context, slug: str, yes: bool, dry_run: bool, wait: bool) -> None:
    """A step's send delivers the rows enrolled in it (the daemon enrols them)."""
    context.require_signing_key()
    plan = plan_step_send(context.engine, context.config, slug)
    smtp = context.config.settings.smtp
    summary = (f"Send the {plan.left} deliveries of {slug} left in the outbox via "
               f"{smtp.host}:{smtp.port}")
    if dry_run:
        click.echo(f"dry run: {summary}")
        return
    if not yes and not click.confirm(summary + "?", default=False):
        raise click.Abort()
    _drain(context, slug, plan.send_id, wait)


def _drain(context: Context, slug: str, send_id: int, wait: bool) -> None:
    """Drain a started send in the foreground with a progress bar; say what is left."""
    engine, config = context.engine, context.config
    progress, update = _progress_printer(sum(outbox.counts(engine, send_id).values()))
    quiet = {"progress_log_seconds": 0.0} if console.is_terminal else {}  # the bar shows it
    options = options_from(config, progress=update, wait_for_deferred=wait, **quiet)
    with _drawn(progress):
        counts = run_send(engine, config, context.secrets, send_id, context.clock, options,
                          handle_signals=True)
        update(counts)  # the bar ends on the final figures
    click.echo(_counts_line(counts))
    after = leftover(engine, send_id, slug, counts, context.clock())
    if after.halted is not None:
        click.echo(after.halted)
        return
    waiting = after.waiting
    if waiting.rows and waiting.first is not None:  # send_local: never block for hours here
        click.echo(f"{waiting.rows} wait for their local send time (the first at "
                   f"{waiting.first:%Y-%m-%d %H:%M} UTC): `publisher run` delivers them")
    if after.left:
        click.echo(", ".join(f"{n} {state}" for state, n in after.left.items()) + " left: "
                   "`publisher run` (or the same command again) sends them when due")


def _counts_line(counts: dict[str, int]) -> str:
    return " ".join(f"{state}={n}" for state, n in counts.items())


def _send_test_copy(context: Context, item: Ready, address: str) -> None:
    """One copy outside the outbox: nothing is recorded, no subscriber is touched."""
    reply = send_test_copy(context.config, context.secrets, item, address, context.clock())
    sent = reply.kind is Kind.SENT
    click.echo(f"test copy to {address}: {'sent' if sent else 'failed'} ({reply.text})")
    if not sent:
        raise click.ClickException(f"test copy not sent: {reply.text}")


@click.command("retry")
@click.argument("issue")
@click.pass_obj
def retry_command(context: Context, issue: str) -> None:
    """Queue the failed deliveries of ISSUE (or `automation:<step>`) again and send them."""
    secrets = context.secrets
    requeued = requeue_failed(context.engine, context.config, issue, context.clock())
    click.echo(f"{requeued.count} failed deliveries queued again")
    counts = run_send(context.engine, context.config, secrets, requeued.send_id,
                      context.clock, options_from(context.config), handle_signals=True)
    click.echo(_counts_line(counts))


COMMANDS: list[click.Command] = [send_command, retry_command]
