"""`publisher admin set-password`: create an operator console account or change its password;
`publisher admin token create|list|revoke`: the JSON API's bearer tokens (publisher.api_tokens).

There is no default account; this is the only way to make one. A token's secret is printed
once, when it is made, and never again. The password is typed twice
without echo, or read from standard input with --password-stdin (scripts, secret stores);
it never appears in argv, where other users of the machine could read it.
"""

from __future__ import annotations

import sys
from datetime import datetime

import click

from publisher import accounts, api_tokens
from publisher.commands.context import Context


@click.group("admin")
def admin_group() -> None:
    """Operator console accounts (the console is served at /admin by `serve`)."""


@admin_group.command("set-password")
@click.argument("username", default="admin")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input.")
@click.pass_obj
def set_password_command(context: Context, username: str, password_stdin: bool) -> None:
    """Create USERNAME (default: admin) or change its password; ends its open sessions."""
    config = context.config
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    accounts.check_new_account(username, password)
    created = accounts.set_password(context.engine, username, password, context.clock())
    verb = "created" if created else "password changed; its open sessions were ended"
    click.echo(f"{username}: {verb}. Sign in at {config.site.base_url}/admin")


@admin_group.group("token")
def token_group() -> None:
    """Bearer tokens of the JSON API at /api/v1 (off while no token is valid)."""


@token_group.command("create")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, required=True,
              type=click.Choice(api_tokens.SCOPES),
              help="What the token may do (repeat for several).")
@click.pass_obj
def token_create_command(context: Context, name: str, scopes: tuple[str, ...]) -> None:
    """Make a token NAME with its scopes; prints its secret, shown this once only."""
    secret = api_tokens.create(context.engine, name, scopes, context.clock())
    click.echo(f"{name}: {secret}")
    click.echo(f"Store it now: it is not shown again. Use it as `Authorization: Bearer "
               f"{api_tokens.PREFIX}…` at {context.config.site.base_url}/api/v1", err=True)


def _when(value: object) -> str:
    return value.isoformat(timespec="seconds") if isinstance(value, datetime) else "-"


@token_group.command("list")
@click.pass_obj
def token_list_command(context: Context) -> None:
    """Every token: name, scopes, created, last used, and revoked when it was."""
    tokens = api_tokens.listed(context.engine)
    if not tokens:
        click.echo("no API tokens: /api/v1 is off until `publisher admin token create`")
    for token in tokens:
        revoked = f"  revoked {_when(token.revoked_at)}" if token.revoked_at else ""
        click.echo(f"{token.name}  {','.join(token.scopes)}  created {_when(token.created_at)}"
                   f"  last used {_when(token.last_used_at)}{revoked}")


@token_group.command("revoke")
@click.argument("name")
@click.pass_obj
def token_revoke_command(context: Context, name: str) -> None:
    """Revoke the token NAME at once (the API answers it 401 from now on)."""
    if not api_tokens.revoke(context.engine, name, context.clock()):
        raise click.ClickException(f"{name}: no valid token with this name")
    click.echo(f"revoked {name}")


COMMANDS: list[click.Command] = [admin_group]
