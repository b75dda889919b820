"""Verbs for database maintenance: db upgrade (the numbered migrations) and db prune (the
rows and frozen emails of finished sends, keeping their summaries, settled webhook
deliveries past their retention, readership day counters summed into months; then VACUUM)."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import partial

import click

from publisher.analytics import counters
from publisher.commands.context import Context
from publisher.db import upgrade
from publisher.sending import reports, retention


@click.group("db")
def db_group() -> None:
    """Database maintenance."""


@db_group.command("upgrade")
@click.pass_obj
def upgrade_command(context: Context) -> None:
    """Apply pending numbered migrations."""
    applied = upgrade(context.bare_engine)
    click.echo(f"applied migrations: {applied}" if applied else "database is up to date")


@db_group.command("prune")
@click.option("--older-than", "days", type=click.IntRange(min=0), required=True,
              help="Prune sends that finished more than DAYS days ago.")
@click.option("--dry-run", is_flag=True, help="Say what would be deleted; delete nothing.")
@click.option("--vacuum", is_flag=True,
              help="Then give the space back (SQLite VACUUM; PostgreSQL VACUUM ANALYZE).")
@click.pass_obj
def prune_command(context: Context, days: int, dry_run: bool, vacuum: bool) -> None:
    """Delete the sent and cancelled rows and the frozen email of finished sends, keeping
    each send's summary (counts, bounces, complaints, failures by reply) and failed rows;
    the webhook deliveries settled before `database.webhook_retention_days`, with the
    events none still needs; and sum the readership counters of days before
    `analytics.keep_days` into one row per month."""
    engine = context.engine
    now = context.clock()
    candidates = retention.prunable_sends(engine, now - timedelta(days=days))
    for send in candidates:
        what = f"{send.rows} delivery rows and a {send.content_bytes / 1000:.0f} KB email"
        if dry_run:
            click.echo(f"would prune {send.slug} (finished {send.finished_at:%Y-%m-%d}): {what}")
            continue
        deleted = retention.prune_send(
            engine, send.send_id, partial(reports.retention_summary, engine, send.send_id, now),
            now)
        click.echo(f"pruned {send.slug}: {deleted} delivery rows and its "
                   f"{send.content_bytes / 1000:.0f} KB email")
    if not candidates:
        click.echo(f"nothing to prune: no send finished more than {days} days ago is left")
    click.echo(webhook_line(context, now, dry_run))
    click.echo(analytics_line(context, now, dry_run))
    if vacuum and not dry_run:
        retention.reclaim_space(engine)
        click.echo("space reclaimed (VACUUM)")


def webhook_line(context: Context, now: datetime, dry_run: bool) -> str:
    """Prune (or count) the webhook rows past `database.webhook_retention_days`; one line."""
    keep = context.config.settings.database.webhook_retention_days
    before = now - timedelta(days=keep)
    if dry_run:
        found = retention.prunable_webhooks(context.engine, before)
        verb = "would prune"
    else:
        found = retention.prune_webhooks(context.engine, before)
        verb = "pruned"
    return (f"{verb} {found.deliveries} webhook deliveries settled more than {keep:g} days "
            f"ago and {found.events} events no delivery needs")


def analytics_line(context: Context, now: datetime, dry_run: bool) -> str:
    """Sum (or count) the readership and click day rows older than `analytics.keep_days`
    into months."""
    keep = context.config.settings.analytics.keep_days
    before = now.astimezone(context.config.site.zone).date() - timedelta(days=keep)
    found = (counters.prunable if dry_run else counters.prune)(context.engine, before)
    verb = "would sum" if dry_run else "summed"
    return (f"{verb} {found.rows} readership day rows older than {keep} days into months "
            f"(feed fetches {found.fetch_rows}, aggregator reports {found.aggregator_rows}, "
            f"page views {found.view_rows}, link clicks {found.click_rows})")


COMMANDS: list[click.Command] = [db_group]
