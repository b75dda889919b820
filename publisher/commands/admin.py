"""`publisher admin set-password`: create an operator console account or change its password.

There is no default account; this is the only way to make one. The password is typed twice
without echo, or read from standard input with --password-stdin (scripts, secret stores);
it never appears in argv, where other users of the machine could read it.
"""

from __future__ import annotations

import sys

import click

from publisher import accounts
from publisher.clock import utc_now
from publisher.config import Config
from publisher.db import open_configured


@click.group("admin")
def admin_group() -> None:
    """Operator console accounts (the console is served at /admin by `serve`)."""


@admin_group.command("set-password")
@click.argument("username", default="admin")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input.")
@click.pass_obj
def set_password_command(config: Config, username: str, password_stdin: bool) -> None:
    """Create USERNAME (default: admin) or change its password; ends its open sessions."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    accounts.check_new_account(username, password)
    created = accounts.set_password(open_configured(config), username, password, utc_now())
    verb = "created" if created else "password changed; its open sessions were ended"
    click.echo(f"{username}: {verb}. Sign in at {config.site.base_url}/admin")


COMMANDS: list[click.Command] = [admin_group]
