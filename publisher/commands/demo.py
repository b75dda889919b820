"""`publisher demo`: build the seed edition and send it through a local catcher
(publisher.dev.demo does it), then say where each output is and how to open the console."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console

from publisher.commands.context import Context

console = Console(stderr=True)


@click.command("demo")
@click.pass_obj
def demo_command(context: Context) -> None:
    """Build the seed edition and send it to demo subscribers through a local catcher."""
    from publisher.dev.demo import run_demo

    result = run_demo(context.config, context.environ)
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


COMMANDS: list[click.Command] = [demo_command]
