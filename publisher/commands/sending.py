"""Verbs for sending: send, status, retry, run, demo."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from publisher.clock import utc_now
from publisher.config import Config, load_secrets
from publisher.content.issues import read_issues
from publisher.db import make_engine, open_configured
from publisher.mail.smtp import Kind, send_one
from publisher.outage import RetryPolicy, retry
from publisher.sending import outbox
from publisher.sending.drain import make_job, options_from
from publisher.sending.send_issue import (
    Ready,
    due_and_missed,
    ready,
    resolve_issue_path,
    run_send,
    start,
)

console = Console(stderr=True)


def _progress_printer(total: int) -> tuple[Progress, Callable[[dict[str, int]], None]]:
    progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                        TextColumn("{task.completed}/{task.total}"),
                        TextColumn("sent {task.fields[sent]} · deferred {task.fields[deferred]}"
                                   " · failed {task.fields[failed]}"),
                        TimeRemainingColumn(), console=console, transient=False)
    task = progress.add_task("sending", total=total, sent=0, deferred=0, failed=0)

    def update(counts: dict[str, int]) -> None:
        settled = counts["sent"] + counts["failed"]
        progress.update(task, completed=settled, sent=counts["sent"],
                        deferred=counts["deferred"], failed=counts["failed"])

    return progress, update


@click.command("send")
@click.argument("issue")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--dry-run", is_flag=True, help="Say what would happen; send nothing.")
@click.option("--to", "test_address", default=None, help="Send one test copy to ADDRESS only.")
@click.option("--wait", is_flag=True,
              help="Stay until no row is queued, sending or deferred (or Ctrl-C).")
@click.pass_obj
def send_command(config: Config, issue: str, yes: bool, dry_run: bool,
                 test_address: str | None, wait: bool) -> None:
    """Send ISSUE (a slug or a path) to every confirmed subscriber, exactly once each."""
    item = ready(config, resolve_issue_path(config, issue))
    secrets = load_secrets(os.environ)
    _ = secrets.signing_key
    engine = open_configured(config)
    if test_address:
        _send_test_copy(config, item, test_address)
        return
    send_id = outbox.find_send(engine, item.issue.slug)
    audience = (sum(outbox.counts(engine, send_id).values()) if send_id is not None
                else outbox.audience_size(engine))
    verb = "Resume" if send_id is not None else "Send"
    summary = (f"{verb} {item.issue.title!r} to {audience} subscriber(s) via "
               f"{config.settings.smtp.host}:{config.settings.smtp.port}")
    if dry_run:
        click.echo(f"dry run: {summary}; email HTML {item.rendered.html_bytes} bytes")
        return
    if not yes and not click.confirm(summary + "?", default=False):
        raise click.Abort()
    policy = RetryPolicy(config.settings.database.outage_seconds)
    send_id = retry(partial(start, engine, config, item, utc_now()), policy)
    progress, update = _progress_printer(sum(outbox.counts(engine, send_id).values()))
    options = options_from(config, progress=update, wait_for_deferred=wait)
    with progress:
        counts = run_send(engine, config, secrets, send_id, utc_now, options,
                          handle_signals=True)
    click.echo(" ".join(f"{state}={n}" for state, n in counts.items()))
    left = {state: counts[state] for state in (outbox.QUEUED, outbox.SENDING, outbox.DEFERRED)
            if counts[state]}
    if left:
        click.echo(", ".join(f"{n} {state}" for state, n in left.items()) + " left: "
                   "`publisher run` (or the same command again) sends them when due")


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
@click.pass_obj
def status_command(config: Config, issue: str | None) -> None:
    """Counts per state for every send (or one), and its last errors."""
    engine = open_configured(config)
    table = Table("issue", *outbox.STATES, "started", "finished")
    sends = outbox.all_sends(engine)
    for send_id, slug, created, finished in sends:
        if issue and slug != issue:
            continue
        counts = outbox.counts(engine, send_id)
        table.add_row(slug, *(str(counts[s]) for s in outbox.STATES), _when(created),
                      _when(finished))
    out = Console()
    if not out.is_terminal:  # piped or logged: never truncate a slug to fit 80 columns
        out.width = 200
    out.print(table)
    issues, _problems, _failed = read_issues([config.issues_dir])
    window = timedelta(hours=config.settings.sending.catch_up_hours)
    _due, missed = due_and_missed(issues, {slug for _, slug, _, _ in sends}, utc_now(), window)
    for item in missed:
        click.echo(f"missed   {item.slug}: send_at {_when(item.meta.send_at)} is older than "
                   f"catch_up_hours; `publisher send {item.slug}` sends it")
    if issue:
        for email, state, reply in outbox.last_errors(engine, outbox.require_send(engine, issue)):
            click.echo(f"{state:<8} {email}: {reply}")


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "-"


@click.command("retry")
@click.argument("issue")
@click.pass_obj
def retry_command(config: Config, issue: str) -> None:
    """Queue the failed deliveries of ISSUE again and send them."""
    item = ready(config, resolve_issue_path(config, issue))
    secrets = load_secrets(os.environ)
    engine = open_configured(config)
    send_id = outbox.require_send(engine, item.issue.slug)
    requeued = outbox.retry_failed(engine, send_id, utc_now())
    click.echo(f"{requeued} failed deliveries queued again")
    counts = run_send(engine, config, secrets, send_id, utc_now, options_from(config),
                      handle_signals=True)
    click.echo(" ".join(f"{state}={n}" for state, n in counts.items()))


COMMANDS: list[click.Command] = [send_command, status_command, retry_command]


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


COMMANDS.append(demo_command)


@click.command("run")
@click.option("--worker", is_flag=True, help="Only drain active sends (scale-out workers).")
@click.option("--once", is_flag=True, help="Run one tick and exit (cron, tests).")
@click.option("--interval", default=60.0, show_default=True, help="Seconds between ticks.")
@click.pass_obj
def run_command(config: Config, worker: bool, once: bool, interval: float) -> None:
    """The daemon: rebuild on change, start due sends, resume and retry deliveries."""
    from publisher.sending.daemon import Daemon

    secrets = load_secrets(os.environ)
    _ = secrets.signing_key
    # The schema is brought up to date at the first tick that reaches the database, so a
    # daemon started while the database is down waits for it instead of exiting.
    daemon = Daemon(config, secrets, make_engine(config.database_url), utc_now, worker=worker)
    if once:
        daemon.tick()
    else:
        daemon.run_forever(interval)


COMMANDS.append(run_command)
