"""`publisher bounces process SOURCE`: a Maildir path, or imaps://user@host[:port]/MAILBOX."""

from __future__ import annotations

import imaplib
import mailbox
from pathlib import Path
from urllib.parse import unquote, urlsplit

import click

from publisher.commands.context import Context
from publisher.errors import ConfigError, PublisherError
from publisher.outage import RetryPolicy
from publisher.sending.returned_mail import BOUNCE_SPOOL, process_maildir
from publisher.tls import client_context


def fetch_imap(url: str, password: str, spool: Path) -> int:
    """Copy unseen messages from an IMAP mailbox over TLS into a local Maildir spool.

    Messages stay on the server (they are only marked seen), so nothing is ever lost.
    """
    parts = urlsplit(url)
    if parts.scheme != "imaps" or not parts.hostname or not parts.username:
        raise ConfigError(f"{url}: use imaps://user@host[:port]/MAILBOX (TLS is required)")
    spool.parent.mkdir(parents=True, exist_ok=True)
    box = mailbox.Maildir(str(spool), create=True)
    fetched = 0
    with imaplib.IMAP4_SSL(parts.hostname, parts.port or 993, ssl_context=client_context(),
                           timeout=30) as client:
        client.login(unquote(parts.username), password)
        client.select(parts.path.strip("/") or "INBOX")
        _, data = client.search(None, "UNSEEN")
        for number in data[0].split():
            _, fetched_parts = client.fetch(number, "(RFC822)")
            for item in fetched_parts:
                if isinstance(item, tuple):
                    box.add(item[1])
                    fetched += 1
    return fetched


@click.group("bounces")
def bounces_group() -> None:
    """Returned mail and complaints."""


@bounces_group.command("process")
@click.argument("source")
@click.pass_obj
def process_command(context: Context, source: str) -> None:
    """Read DSNs and ARF reports; update deliveries and subscribers; keep what is unclear."""
    config = context.config
    secrets = context.secrets
    maildir = Path(source)
    if source.startswith("imaps://"):
        if not secrets.imap_password:
            raise ConfigError("PUBLISHER_IMAP_PASSWORD: needed to read bounces over IMAP")
        maildir = config.path(BOUNCE_SPOOL)
        fetched = fetch_imap(source, secrets.imap_password, maildir)
        click.echo(f"fetched {fetched} message(s) from {source}")
    if not (maildir / "new").is_dir():
        raise PublisherError(f"{maildir}: not a Maildir (no new/ folder)")
    engine = context.engine
    outcome = process_maildir(engine, maildir, secrets.secret_keys,
                              config.settings.bounces.hard_bounce_threshold, context.clock(),
                              RetryPolicy(config.settings.database.outage_seconds))
    kinds = ", ".join(f"{kind} {count}" for kind, count in outcome.kinds.items())
    click.echo(f"processed {outcome.processed} ({kinds})")
    for key, what in outcome.unverified:
        click.echo(f"unverified, changed nobody (recorded): {maildir / 'cur' / key}: {what}")
    for key in outcome.unparseable:
        click.echo(f"not a bounce or complaint (kept): {maildir / 'new' / key}")


COMMANDS: list[click.Command] = [bounces_group]
