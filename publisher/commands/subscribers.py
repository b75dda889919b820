"""Verbs for the subscriber store: subscribers add|remove|list|import|export|erase|stats.
Neither add nor import ever undoes an opt-out, a bounce or a complaint."""

from __future__ import annotations

import codecs
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from publisher.commands.context import Context
from publisher.config import Config
from publisher.errors import PublisherError
from publisher.outage import RetryPolicy
from publisher.sending.erasure import erase_person
from publisher.sending.returned_mail import BOUNCE_SPOOL, forget_messages
from publisher.subscribers import store
from publisher.subscribers.addresses import normalise_address
from publisher.subscribers.csv_files import export_csv, import_csv, open_csv
from publisher.subscribers.languages import reader_language
from publisher.subscribers.store import Consent
from publisher.subscribers.tool_exports import FORMATS as TOOL_FORMATS
from publisher.subscribers.tool_exports import export_for

console = Console(stderr=True)


@click.group("subscribers")
def subscribers_group() -> None:
    """Manage subscribers."""


WELCOME_HELP = ("With --confirmed: enrol them in the automations (the welcome, then each "
                "step) as if they had just confirmed; without it they get issues only.")


def _status(confirmed: bool, welcome: bool) -> str:
    if welcome and not confirmed:
        raise click.UsageError("--welcome needs --confirmed (a pending reader gets the "
                               "welcome when they confirm)")
    return store.CONFIRMED if confirmed else store.PENDING


def _note_no_welcome(config: Config, applies: bool) -> None:
    """Say that readers added as confirmed are outside the automations, and how to enrol."""
    if applies and config.automations_dir.is_dir():
        click.echo("they get issues, but no welcome nor other automation step: run the "
                   "same command with --welcome to enrol them")


@subscribers_group.command("add")
@click.argument("email")
@click.option("--name", default="")
@click.option("--tag", "tags", multiple=True)
@click.option("--confirmed", is_flag=True,
              help="Skip double opt-in: only when you hold the person's consent.")
@click.option("--welcome", is_flag=True, help=WELCOME_HELP)
@click.option("--language", default=None,
              help="The language they read in, one of [site] languages (default: the site's).")
@click.pass_obj
def add_command(context: Context, email: str, name: str, tags: tuple[str, ...],
                confirmed: bool, welcome: bool, language: str | None) -> None:
    """Add one subscriber (pending unless --confirmed); one who left is left alone."""
    config = context.config
    now = context.clock()
    status = _status(confirmed, welcome)
    spoken = reader_language(language, config.site.languages)
    with context.engine.begin() as conn:
        subscriber, created = store.add(conn, email, name, status, Consent("cli", now), now,
                                        tags, welcome=welcome, language=spoken)
        reason = None if created else store.departure(conn, subscriber.id)
    if reason is not None:
        raise PublisherError(f"{subscriber.email}: {reason}")
    click.echo(f"{'added' if created else 'exists'} {subscriber.email} ({subscriber.status})")
    _note_no_welcome(config, confirmed and not welcome and subscriber.status == store.CONFIRMED)


@subscribers_group.command("remove")
@click.argument("email")
@click.pass_obj
def remove_command(context: Context, email: str) -> None:
    """Unsubscribe an address (kept, with its history, as unsubscribed)."""
    now = context.clock()
    with context.engine.begin() as conn:
        found = store.find(conn, normalise_address(email))
        if found is None:
            raise PublisherError(f"{email}: no such subscriber")
        store.unsubscribe(conn, found.id, now, "cli")
    click.echo(f"unsubscribed {found.email}")


@subscribers_group.command("list")
@click.option("--status", type=click.Choice(store.STATUSES), default=None)
@click.pass_obj
def list_command(context: Context, status: str | None) -> None:
    """List subscribers (email, name, status)."""
    for row in store.iter_all(context.engine, status):
        click.echo(f"{row.email}\t{row.name}\t{row.status}")


def _known_encoding(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        codecs.lookup(value)
    except LookupError:
        raise click.BadParameter(f"{value!r} is not an encoding Python knows") from None
    return value


@subscribers_group.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--confirmed", is_flag=True,
              help="Import as confirmed: only for lists whose consent you can vouch for.")
@click.option("--welcome", is_flag=True, help=WELCOME_HELP)
@click.option("--encoding", default="utf-8", show_default=True, callback=_known_encoding,
              help="The file's encoding, e.g. gbk or cp1252 for a spreadsheet's CSV.")
@click.pass_obj
def import_command(context: Context, csv_file: Path, confirmed: bool, welcome: bool,
                   encoding: str) -> None:
    """Import email,name,tags[,language] rows (or an export); idempotent; rows rejected or
    left alone (people who unsubscribed, bounced or complained) are reported by line number."""
    config = context.config
    now = context.clock()
    status = _status(confirmed, welcome)
    engine = context.engine
    with open_csv(csv_file, encoding) as stream:
        report = import_csv(engine, stream, status, now, source=f"import:{csv_file.name}",
                            policy=RetryPolicy(config.settings.database.outage_seconds),
                            name=str(csv_file), welcome=welcome,
                            languages=config.site.languages)
    for line, reason in sorted(report.rejected + report.skipped):
        console.print(f"{csv_file}:{line}: {reason}", markup=False, soft_wrap=True)
    click.echo(f"added {report.added}, updated {report.updated}, "
               f"rejected {len(report.rejected)}, skipped {len(report.skipped)}")
    _note_no_welcome(config, confirmed and not welcome and bool(report.added + report.updated))
    if report.rejected:
        sys.exit(1)


@subscribers_group.command("export")
@click.option("--status", type=click.Choice(store.STATUSES), default=None)
@click.option("--format", "tool", type=click.Choice(sorted(TOOL_FORMATS)), default=None,
              help="Another tool's import format (its confirmed readers unless --status).")
@click.pass_obj
def export_command(context: Context, status: str | None, tool: str | None) -> None:
    """Write every subscriber with status and consent as CSV to standard output, or with
    --format the columns Mailchimp, Substack, listmonk or Buttondown import."""
    if tool is None:
        export_csv(context.engine, sys.stdout, status)
    else:
        export_for(context.engine, sys.stdout, tool, status)


@subscribers_group.command("erase")
@click.argument("email")
@click.pass_obj
def erase_command(context: Context, email: str) -> None:
    """Delete a person's data; only a hash stays, so the address is never added again."""
    config = context.config
    address = normalise_address(email)
    with context.engine.begin() as conn:
        existed = erase_person(conn, address, context.clock())
    copies = forget_messages(config.path(BOUNCE_SPOOL), address.email)
    click.echo(f"erased {email}" if existed else f"{email}: not found; suppressed anyway")
    if copies:
        click.echo(f"deleted {copies} returned message(s) naming them from {BOUNCE_SPOOL}")


@subscribers_group.command("stats")
@click.pass_obj
def stats_command(context: Context) -> None:
    """Counts per status."""
    table = Table("status", "count")
    for status, count in store.stats(context.engine).items():
        table.add_row(status, str(count))
    Console().print(table)


COMMANDS: list[click.Command] = [subscribers_group]
