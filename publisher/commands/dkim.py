"""`publisher dkim keygen`: a key pair and the DNS TXT record to publish."""

from __future__ import annotations

from pathlib import Path

import click

from publisher.commands.context import Context
from publisher.errors import PublisherError
from publisher.mail.dkim_signing import generate, write_key, zone_line


@click.group("dkim")
def dkim_group() -> None:
    """DKIM keys."""


@dkim_group.command("keygen")
@click.option("--selector", default=None, help="Default: dkim.selector from the config.")
@click.option("--domain", default=None, help="Default: dkim.domain, else the From domain.")
@click.option("--type", "kind", type=click.Choice(["rsa", "ed25519"]), default="rsa",
              show_default=True)
@click.option("--bits", default=2048, show_default=True, help="RSA key size (2048 or more).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("keys"),
              show_default=True)
@click.pass_obj
def keygen_command(context: Context, selector: str | None, domain: str | None, kind: str,
                   bits: int, out: Path) -> None:
    """Write <out>/<selector>.<domain>.pem (mode 600) and print the TXT record."""
    config = context.config
    if bits < 2048:
        raise PublisherError("--bits: 2048 or more (smaller RSA keys are rejected by receivers)")
    settings = config.settings.dkim
    selector = selector or settings.selector or "publisher"
    domain = domain or settings.domain or config.settings.sender.from_address.rsplit("@")[1]
    path = out / f"{selector}.{domain}.{kind}.pem"
    if path.exists():
        raise PublisherError(f"{path}: already exists (refusing to overwrite a key)")
    key = generate(kind, bits)
    write_key(key, path)
    click.echo(f"private key: {path}  (keep it out of version control)")
    click.echo(f"publish this TXT record at {selector}._domainkey.{domain} (zone-file form, "
               "in strings of at most 255 characters):")
    click.echo(zone_line(selector, domain, key))


COMMANDS: list[click.Command] = [dkim_group]
