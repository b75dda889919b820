"""The double opt-in mail: built with the stdlib, DKIM-signed like every issue mail, sent
on an SMTP connection of its own (one message, no outbox)."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Coroutine
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from publisher import urls
from publisher.config import Config, Secrets
from publisher.i18n import strings_for
from publisher.mail.dkim_signing import keys_from_config, make_signer
from publisher.mail.mime import check_address, clean_text
from publisher.mail.smtp import Kind, send_one
from publisher.mail.wire import outgoing_from

Mailer = Callable[[str, bytes], Coroutine[Any, Any, str]]


def confirmation_message(config: Config, email: str, name: str, token: str,
                         now: datetime) -> EmailMessage:
    """A plain-text confirmation mail in the site's language."""
    site = config.site
    sender = config.settings.sender
    t = strings_for(site.language)
    link = urls.confirm_url(site.base_url, token)
    message = EmailMessage()
    message["From"] = Address(clean_text(sender.from_name), addr_spec=sender.from_address)
    message["To"] = Address(clean_text(name), addr_spec=check_address(email))
    message["Subject"] = t["confirm_mail_subject"].format(site=site.title)
    message["Date"] = format_datetime(now)
    digest = hashlib.sha256(f"{email}|{token}".encode()).hexdigest()[:24]
    message["Message-ID"] = f"<confirm.{digest}@{sender.from_address.rsplit('@', 1)[1]}>"
    message["Auto-Submitted"] = "auto-generated"
    if sender.reply_to:
        message["Reply-To"] = sender.reply_to
    message.set_content(t["confirm_mail_body"].format(site=site.title, email=email, url=link),
                        cte="quoted-printable")
    return message


def smtp_mailer(config: Config, secrets: Secrets, clock: Callable[[], datetime]) -> Mailer:
    """Send one message through the configured SMTP server, signed with the configured DKIM
    keys; returns the reply text."""
    keys = keys_from_config(config, secrets)
    sign = make_signer(keys, clock) if keys else None

    async def send(recipient: str, message: bytes) -> str:
        message = re.sub(rb"\r?\n", b"\r\n", message)  # CRLF, the form DKIM signs
        if sign is not None:
            message = sign(message)
        reply = await send_one(config.settings.smtp, secrets,
                               config.settings.sender.from_address, recipient,
                               outgoing_from(message))
        if reply.kind is not Kind.SENT:
            raise ConnectionError(reply.text)
        return reply.text

    return send
