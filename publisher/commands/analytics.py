"""Verbs for readership without tracking (publisher.analytics): analytics feeds, analytics
views, and analytics ingest of an nginx access log."""

from __future__ import annotations

from pathlib import Path

import click

from publisher.analytics import figures, ingest
from publisher.commands.context import Context

PERIODS_SHOWN = 14


@click.group("analytics")
def analytics_group() -> None:
    """Feed readership and archive views, counted without a trace of any reader."""


@analytics_group.command("feeds")
@click.option("--periods", type=click.IntRange(min=1), default=PERIODS_SHOWN, show_default=True,
              help="Show this many of each feed's latest days (or months, once pruned).")
@click.pass_obj
def feeds_command(context: Context, periods: int) -> None:
    """Per feed: each aggregator's latest subscriber count, then fetches and other
    fetchers per day."""
    for line in figures.feed_lines(figures.feed_readership(context.engine), periods):
        click.echo(line)


@analytics_group.command("views")
@click.option("--periods", type=click.IntRange(min=1), default=PERIODS_SHOWN, show_default=True,
              help="Show this many of each page's latest days (or months, once pruned).")
@click.pass_obj
def views_command(context: Context, periods: int) -> None:
    """Views of each issue page of the archive, most viewed first."""
    for line in figures.view_lines(figures.issue_views(context.engine), periods):
        click.echo(line)


@analytics_group.command("ingest")
@click.argument("access_log", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_obj
def ingest_command(context: Context, access_log: Path) -> None:
    """Count the feed fetches and issue page views of an nginx access log (combined
    format) logged since the last ingest; the same log twice counts once."""
    zone = context.config.site.zone
    done = ingest.ingest_file(context.engine, access_log, zone)
    mark = f"{done.last_at.astimezone(zone):%Y-%m-%d %H:%M:%S %z}" if done.last_at else "none"
    click.echo(f"{done.lines} lines read, {done.new} logged after the last ingest, "
               f"{done.counted} counted as feed fetches or page views; read up to {mark}")


COMMANDS: list[click.Command] = [analytics_group]
