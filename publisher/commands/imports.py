"""`publisher import FILE_OR_ZIP`: another newsletter tool's export into publisher.

The file (a CSV, or the tool's zip) is recognised from its names and header rows, never from
a flag: subscriber lists go to the store (publisher.subscribers.tool_import), posts become
issue files in one folder with an nginx redirect map (publisher.site.post_archives).
`--dry-run` only reports; rows or posts in error stop the import unless `--skip-errors`.
"""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from publisher.commands.context import Context
from publisher.outage import RetryPolicy
from publisher.site.post_archives import convert, read_archive, redirect_lines, write_folder
from publisher.subscribers.tool_import import (
    Plan,
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
@click.option("--out", type=click.Path(file_okay=False, path_type=Path),
              default=Path("imported"), show_default=True,
              help="The folder for the posts' issue files and redirect map.")
@click.option("--old-url", default=None,
              help="Where the posts were published (e.g. https://buttondown.com/you), "
                   "when the export does not say.")
@click.pass_obj
def import_command(context: Context, source: Path, dry_run: bool, skip_errors: bool,
                   welcome: bool, out: Path, old_url: str | None) -> None:
    """Import a Mailchimp, Substack, Buttondown, beehiiv, Ghost, listmonk or publisher
    export; opt-outs become suppressions, posts issue files; running it again changes
    nothing."""
    config = context.config
    archive = read_archive(source, old_url)
    lists = [f for f in list_files(source) if f.file_name not in archive.lists]
    found = plan(lists, config.site.languages) if lists else Plan()
    found.errors += archive.problems
    issues = convert(archive)
    for line in plan_lines(found) if lists else []:
        click.echo(line)
    if archive.posts:
        click.echo(f"posts: {len(issues)} into {out / 'issues'}")
    for issue in issues:
        for lost in issue.not_kept:
            console.print(f"{out / 'issues' / issue.name}: not kept: {lost}", markup=False,
                          soft_wrap=True)
    for name, line_number, reason in found.errors:
        console.print(f"{name}:{line_number}: {reason}", markup=False, soft_wrap=True)
    if dry_run:
        click.echo("dry run: nothing written")
        return
    refused = refusal(found, skip_errors)
    if refused is not None:
        raise refused
    if issues:
        written_files = write_folder(out, issues, redirect_lines(archive.posts))
        click.echo(f"wrote {len(written_files)} file(s) in {out}")
    if found.found:
        written = write(context.engine, found.found, context.clock(), welcome,
                        RetryPolicy(config.settings.database.outage_seconds),
                        config.site.languages)
        for name, line_number, reason in written.skipped:
            console.print(f"{name}:{line_number}: {reason}", markup=False, soft_wrap=True)
        click.echo(written_line(written))


COMMANDS: list[click.Command] = [import_command]
