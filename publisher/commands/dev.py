"""`publisher dev …`: tools for trying publisher on one machine (the local SMTP catcher)."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

import click

from publisher.commands.context import Context
from publisher.dev.catcher import Catcher, arrival

LINKS_SHOWN = 12  # a digest has dozens of links; the first ones are the reader's own


@click.group("dev")
def dev_group() -> None:
    """Tools for trying publisher on this machine."""


@click.command("catch")
@click.option("--port", type=int, default=None,
              help="Port on 127.0.0.1 (default: the configured smtp.port, 8025 as shipped).")
@click.option("--maildir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where each message is stored (default: var/mail).")
@click.pass_obj
def catch_command(context: Context, port: int | None, maildir: Path | None) -> None:
    """Catch every mail sent to 127.0.0.1 into a Maildir and show each as it arrives."""
    config = context.config
    folder = maildir or config.path("var/mail")
    port = port or config.settings.smtp.port
    printing = threading.Lock()

    def show(stored: bytes) -> None:
        seen = arrival(stored)
        moment = context.clock().astimezone(config.site.zone)
        with printing:
            click.echo(f"{_time(moment)}  to {seen.to}  {seen.subject}")
            for link in seen.links[:LINKS_SHOWN]:
                click.echo(f"          {link}")
            if len(seen.links) > LINKS_SHOWN:
                click.echo(f"          … and {len(seen.links) - LINKS_SHOWN} more links")

    catcher = Catcher(folder, port=port, on_message=show)
    with catcher:
        click.echo(f"catching mail on 127.0.0.1:{catcher.port} into {folder} "
                   "(Ctrl-C stops)")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
    click.echo(f"caught {catcher.handler.count} message(s) into {folder}")


def _time(moment: datetime) -> str:
    return moment.strftime("%H:%M:%S")


dev_group.add_command(catch_command)

COMMANDS: list[click.Command] = [dev_group]
