"""Verbs for sending: send, status, retry, run, demo.

A foreground `send` draws its progress bar on a terminal only, counting delivered mail;
its log lines go to stderr, printed above the bar while it is drawn, never through it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy.engine import Engine

from publisher.clock import utc_now
from publisher.commands import reports as report_views
from publisher.commands.control import state_line
from publisher.config import Config, Secrets, load_secrets, metrics_address
from publisher.content.automations import SEND_PREFIX
from publisher.content.issues import read_issues
from publisher.db import make_engine, open_configured
from publisher.logs import log_event
from publisher.mail.smtp import Kind, send_one
from publisher.outage import RetryPolicy, retry
from publisher.sending import control, enrolment, outbox, recipients, reports, windows
from publisher.sending.drain import make_job, options_from
from publisher.sending.send_issue import (
    Ready,
    due_and_missed,
    ready,
    resolve_issue_path,
    run_send,
    start,
)
from publisher.subscribers import audience_sql

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
def send_command(config: Config, issue: str, yes: bool, dry_run: bool,
                 test_address: str | None, wait: bool, audience_text: str | None) -> None:
    """Send ISSUE (a slug or a path) to its audience (every confirmed subscriber unless it
    names one), exactly once each; `automation:<step>` sends what that step has queued."""
    if issue.startswith(SEND_PREFIX):
        if test_address or audience_text:
            raise click.UsageError("--to and --audience are for issues: a step goes to the "
                                   "readers enrolled in it")
        _send_step(config, issue, yes, dry_run, wait)
        return
    item = ready(config, resolve_issue_path(config, issue))
    secrets = load_secrets(os.environ)
    secrets.require_signing_key()
    engine = open_configured(config)
    if test_address:
        _send_test_copy(config, item, test_address)
        return
    send_id = outbox.find_send(engine, item.issue.slug)
    if send_id is not None:
        _refuse_if_halted(engine, item.issue.slug, send_id)
    plan = _plan(engine, config, item, send_id, audience_text)
    verb = "Resume" if send_id is not None else "Send"
    summary = (f"{verb} {item.issue.title!r} to {plan.size} subscriber(s) via "
               f"{config.settings.smtp.host}:{config.settings.smtp.port}")
    if dry_run:
        click.echo(f"dry run: {summary}; email HTML {item.rendered.html_bytes} bytes")
        if plan.expression is not None:
            click.echo(f"would send to {plan.size} of {plan.confirmed} confirmed subscribers: "
                       f"audience `{plan.expression}`")
        return
    if not yes and not click.confirm(summary + plan.suffix + "?", default=False):
        raise click.Abort()
    policy = RetryPolicy(config.settings.database.outage_seconds)
    send_id = retry(partial(start, engine, config, item, utc_now(), audience_text), policy)
    _drain(config, secrets, engine, item.issue.slug, send_id, wait)


def _send_step(config: Config, slug: str, yes: bool, dry_run: bool, wait: bool) -> None:
    """A step's send delivers the rows enrolled in it (the daemon enrols them)."""
    secrets = load_secrets(os.environ)
    _ = secrets.signing_key
    engine = open_configured(config)
    send_id = enrolment.require_step_send(engine, config, slug)
    _refuse_if_halted(engine, slug, send_id)
    left = outbox.remaining(outbox.counts(engine, send_id))
    summary = (f"Send the {left} deliveries of {slug} left in the outbox via "
               f"{config.settings.smtp.host}:{config.settings.smtp.port}")
    if dry_run:
        click.echo(f"dry run: {summary}")
        return
    if not yes and not click.confirm(summary + "?", default=False):
        raise click.Abort()
    _drain(config, secrets, engine, slug, send_id, wait)


def _drain(config: Config, secrets: Secrets, engine: Engine, slug: str, send_id: int,
           wait: bool) -> None:
    """Drain a started send in the foreground with a progress bar; say what is left."""
    progress, update = _progress_printer(sum(outbox.counts(engine, send_id).values()))
    quiet = {"progress_log_seconds": 0.0} if console.is_terminal else {}  # the bar shows it
    options = options_from(config, progress=update, wait_for_deferred=wait, **quiet)
    with _drawn(progress):
        counts = run_send(engine, config, secrets, send_id, utc_now, options,
                          handle_signals=True)
        update(counts)  # the bar ends on the final figures
    click.echo(" ".join(f"{state}={n}" for state, n in counts.items()))
    state = control.send_state(engine, send_id)
    if state in (outbox.SEND_PAUSED, outbox.SEND_CANCELLED):
        click.echo(state_line(slug, state, counts))
        return
    left = {state: counts[state] for state in outbox.OPEN_STATES
            if counts[state]}
    waiting = windows.waiting(engine, send_id, utc_now())
    if waiting.rows and waiting.first is not None:  # send_local: never block for hours here
        click.echo(f"{waiting.rows} wait for their local send time (the first at "
                   f"{waiting.first:%Y-%m-%d %H:%M} UTC): `publisher run` delivers them")
        left[outbox.QUEUED] -= waiting.rows
        left = {state: n for state, n in left.items() if n}
    if left:
        click.echo(", ".join(f"{n} {state}" for state, n in left.items()) + " left: "
                   "`publisher run` (or the same command again) sends them when due")


@dataclass(frozen=True)
class _Plan:
    """Who a send goes to, as the confirmation and the dry run say it."""

    size: int  # rows of the started send, or subscribers the audience matches now
    confirmed: int
    expression: str | None  # canonical audience expression; None: every confirmed subscriber

    @property
    def suffix(self) -> str:
        return f" (audience `{self.expression}`)" if self.expression is not None else ""


def _plan(engine: Engine, config: Config, item: Ready, send_id: int | None,
          override: str | None) -> _Plan:
    """The send's audience: a started send keeps the one recorded at its start (a
    different --audience is refused); a new one resolves it now, refusing a bad one."""
    confirmed = outbox.audience_size(engine)
    if send_id is not None:
        recorded = reports.send_summary(engine, send_id, utc_now()).audience
        if override is not None and str(recipients.parsed(override, config)) != recorded:
            raise click.ClickException(
                f"{item.issue.slug}: this send started with audience "
                f"{f'`{recorded}`' if recorded else 'every confirmed subscriber'}; "
                f"--audience {override!r} cannot change it")
        return _Plan(sum(outbox.counts(engine, send_id).values()), confirmed, recorded)
    text = recipients.expression_of(item.issue, override)
    if text is None:
        return _Plan(confirmed, confirmed, None)
    expr = recipients.parsed(text, config)
    return _Plan(audience_sql.count(engine, expr), confirmed, str(expr))


def _refuse_if_halted(engine: Engine, slug: str, send_id: int) -> None:
    """A paused send is resumed only by `publisher resume`; a cancelled one never."""
    state = control.send_state(engine, send_id)
    if state in (outbox.SEND_PAUSED, outbox.SEND_CANCELLED):
        raise click.ClickException(state_line(slug, state, outbox.counts(engine, send_id)))


def _send_test_copy(config: Config, item: Ready, address: str) -> None:
    """One copy outside the outbox: nothing is recorded, no subscriber is touched."""
    secrets = load_secrets(os.environ)
    job = make_job(0, item.issue.entry_id(config.site.domain), item.rendered, config, secrets,
                   utc_now())
    message = job.builder.build((0, 0, address, ""))
    reply = asyncio.run(send_one(config.settings.smtp, secrets, job.envelope_from_address,
                                 address, message))
    sent = reply.kind is Kind.SENT
    click.echo(f"test copy to {address}: {'sent' if sent else 'failed'} ({reply.text})")
    if not sent:
        raise click.ClickException(f"test copy not sent: {reply.text}")


@click.command("status")
@click.argument("issue", required=False)
@click.option("--watch", is_flag=True,
              help="Refresh every second until no send has rows left to send now (Ctrl-C stops).")
@click.pass_obj
def status_command(config: Config, issue: str | None, watch: bool) -> None:
    """Every send (or one): state, counts per row state, rate and ETA; its last errors."""
    engine = open_configured(config)
    out = report_views.output_console()
    render = partial(_status_now, engine, issue)
    if watch:
        try:
            report_views.watch(out, render, lambda: reports.sends_in_progress(engine, utc_now()),
                               interval=1.0)
        except KeyboardInterrupt:
            return
    else:
        out.print(render())
    issues, _problems, _failed = read_issues([config.issues_dir])
    window = timedelta(hours=config.settings.sending.catch_up_hours)
    _due, missed = due_and_missed(issues, outbox.send_slugs(engine), utc_now(), window)
    for item in missed:
        click.echo(f"missed   {item.slug}: send_at {report_views.when(item.meta.send_at)} is "
                   f"older than catch_up_hours; `publisher send {item.slug}` sends it")
    if issue:
        for email, state, reply in outbox.last_errors(engine, outbox.require_send(engine, issue)):
            click.echo(f"{state:<8} {email}: {reply}")


def _status_now(engine: Engine, issue: str | None) -> Table:
    return report_views.status_table(engine, issue, utc_now())


@click.command("retry")
@click.argument("issue")
@click.pass_obj
def retry_command(config: Config, issue: str) -> None:
    """Queue the failed deliveries of ISSUE (or `automation:<step>`) again and send them."""
    secrets = load_secrets(os.environ)
    engine = open_configured(config)
    if issue.startswith(SEND_PREFIX):
        slug, send_id = issue, enrolment.require_step_send(engine, config, issue)
    else:
        slug = ready(config, resolve_issue_path(config, issue)).issue.slug
        send_id = outbox.require_send(engine, slug)
    _refuse_if_halted(engine, slug, send_id)
    requeued = control.retry_failed(engine, send_id, utc_now())
    _refuse_if_halted(engine, slug, send_id)  # cancelled meanwhile: nothing queued
    click.echo(f"{requeued} failed deliveries queued again")
    counts = run_send(engine, config, secrets, send_id, utc_now, options_from(config),
                      handle_signals=True)
    click.echo(" ".join(f"{state}={n}" for state, n in counts.items()))


COMMANDS: list[click.Command] = [send_command, status_command, retry_command,
                                  report_views.report_command]


@click.command("demo")
@click.pass_obj
def demo_command(config: Config) -> None:
    """Build the seed edition and send it to demo subscribers through a local catcher."""
    from publisher.dev.demo import run_demo

    result = run_demo(config, os.environ)
    if result.ephemeral_secret:
        console.print("PUBLISHER_SECRET_KEY is not set: the demo used a throwaway key.")
    click.echo(f"archive:  {result.output_dir / 'index.html'}")
    click.echo(f"email:    {result.email_html}")
    click.echo(f"          {result.email_text}")
    for feed in result.feeds:
        click.echo(f"feed:     {feed}")
    click.echo(f"mailbox:  {result.maildir} ({result.received} messages received)")
    click.echo("outbox:   " + " ".join(f"{s}={n}" for s, n in result.counts.items()))
    for line in _console_hint(result.config_file):
        click.echo(line)


def _console_hint(config_file: Path) -> list[str]:
    """How to open the operator console on the demo's data."""
    program = Path(sys.argv[0])
    command = _shown(program) if program.name == "publisher" and program.is_file() else "publisher"
    prefix = f"{command} --config {_shown(config_file)}"
    return [f"console:  export PUBLISHER_SECRET_KEY=$({command} secret-key)",
            f"          {prefix} admin set-password admin",
            f"          {prefix} serve   then open http://127.0.0.1:8000/admin"]


def _shown(path: Path) -> str:
    """A path as short as it can be written from here."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


COMMANDS.append(demo_command)


@click.command("run")
@click.option("--worker", is_flag=True, help="Only drain active sends (scale-out workers).")
@click.option("--once", is_flag=True, help="Run one tick and exit (cron, tests).")
@click.option("--interval", default=60.0, show_default=True, help="Seconds between ticks.")
@click.option("--metrics-listen", metavar="HOST:PORT", default=None,
              help="Serve /metrics here instead of at [metrics] listen (one port per process).")
@click.pass_obj
def run_command(config: Config, worker: bool, once: bool, interval: float,
                metrics_listen: str | None) -> None:
    """The daemon: rebuild on change, start due sends, resume and retry deliveries."""
    from publisher.sending import metrics
    from publisher.sending.daemon import Daemon

    secrets = load_secrets(os.environ)
    secrets.require_signing_key()
    # The schema is brought up to date at the first tick that reaches the database, so a
    # daemon started while the database is down waits for it instead of exiting.
    engine = make_engine(config.database_url)
    daemon = Daemon(config, secrets, engine, utc_now, worker=worker)
    if once:
        daemon.tick()
        return
    listen = config.settings.metrics.listen if metrics_listen is None else metrics_listen
    server = None
    if listen:
        try:
            host, port = metrics_address(listen, config.settings.metrics.allow_remote)
            server = metrics.serve(host, port, engine, utc_now)
        except ValueError as exc:  # only --metrics-listen: the file's value was checked
            raise click.BadParameter(str(exc), param_hint="--metrics-listen") from exc
        except OSError as exc:
            raise click.ClickException(f"/metrics on {listen}: {exc.strerror}; every process "
                                       "needs its own port (--metrics-listen)") from exc
        log_event("metrics_listening", address=listen)
    try:
        daemon.run_forever(interval)
    finally:
        if server is not None:
            server.shutdown()


COMMANDS.append(run_command)
