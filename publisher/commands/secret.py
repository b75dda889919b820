"""`publisher secret-key`: print a fresh random key for PUBLISHER_SECRET_KEY."""

from __future__ import annotations

import secrets

import click

# 32 random bytes, URL-safe base64: 43 characters, far above the 16 that load_secrets needs.
KEY_BYTES = 32


@click.command("secret-key")
def secret_key_command() -> None:
    """Print a new random secret key, to export as PUBLISHER_SECRET_KEY."""
    click.echo(secrets.token_urlsafe(KEY_BYTES))


COMMANDS: list[click.Command] = [secret_key_command]
