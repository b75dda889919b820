"""`publisher import FILE_OR_ZIP`: another newsletter tool's export into publisher.

The file (a CSV, or the tool's zip) is recognised from its names and header rows, never from
a flag; `--dry-run` only reports, and rows in error stop the import unless `--skip-errors`.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from publisher.clock import utc_now
from publisher.config import Config
from publisher.db import open_configured
from publisher.outage import RetryPolicy
from publisher.subscribers.tool_import import (
    list_files,
    plan,
    plan_lines,
    refusal,
    write,
    written_line,
)

console = Console(stderr=True)


@click.command("import")
@click.argument("source", metavar="FILE_OR_ZIP",
                type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True,
              help="Say what was recognised and which rows cannot be taken; write nothing.")
@click.option("--skip-errors", is_flag=True,
              help="Import the readable rows even when others are in error.")
@click.option("--welcome", is_flag=True,
              help="Enrol imported readers into the welcome and sequence steps.")
@click.pass_obj
def import_command(config: Config, source: Path, dry_run: bool, skip_errors: bool,
                   welcome: bool) -> None:
    """Import a Mailchimp, Substack, Buttondown, beehiiv, Ghost, listmonk or publisher
    export; opt-outs become suppressions; running it again changes nothing."""
    found = plan(list_files(source), welcome)
    for line in plan_lines(found):
        click.echo(line)
    for name, line_number, reason in found.errors:
        console.print(f"{name}:{line_number}: {reason}", markup=False, soft_wrap=True)
    if dry_run:
        click.echo("dry run: nothing written")
        return
    refused = refusal(found, skip_errors)
    if refused is not None:
        raise refused
    written = write(open_configured(config), found.found, utc_now(), welcome,
                    RetryPolicy(config.settings.database.outage_seconds))
    for name, line_number, reason in written.skipped:
        console.print(f"{name}:{line_number}: {reason}", markup=False, soft_wrap=True)
    click.echo(written_line(written))


COMMANDS: list[click.Command] = [import_command]
