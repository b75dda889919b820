"""The double opt-in mail: built with the stdlib and DKIM-signed like every issue mail.

It is written to the outbox by the web request and sent by whatever drains the outbox
(publisher.sending.oneoff), which builds it at send time: the link's 7 days start then.
It speaks the reader's language (their `language`, else the site's)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from publisher import urls
from publisher.config import Config, Secrets
from publisher.i18n import translator_for
from publisher.mail.dkim_signing import keys_from_config, make_signer
from publisher.mail.mime import check_address, clean_text
from publisher.mail.wire import Outgoing, canonical, outgoing_from

WireForm = Callable[[EmailMessage], Outgoing]


def confirmation_subject(config: Config, language: str | None = None) -> str:
    """The confirmation mail's subject, in `language` (None: the site's)."""
    return translator_for(language or config.site.language).gettext(
        "Confirm your subscription to {site}", site=config.site.title)


def confirmation_message(config: Config, email: str, name: str, token: str,
                         now: datetime, language: str | None = None) -> EmailMessage:
    """A plain-text confirmation mail in the reader's `language` (None: the site's)."""
    site = config.site
    sender = config.settings.sender
    _ = translator_for(language or site.language).gettext
    link = urls.confirm_url(site.base_url, token)
    message = EmailMessage()
    message["From"] = Address(clean_text(sender.from_name), addr_spec=sender.from_address)
    message["To"] = Address(clean_text(name), addr_spec=check_address(email))
    message["Subject"] = confirmation_subject(config, language)
    message["Date"] = format_datetime(now)
    digest = hashlib.sha256(f"{email}|{token}".encode()).hexdigest()[:24]
    message["Message-ID"] = f"<confirm.{digest}@{sender.from_address.rsplit('@', 1)[1]}>"
    message["Auto-Submitted"] = "auto-generated"
    if sender.reply_to:
        message["Reply-To"] = sender.reply_to
    body = _("Someone (hopefully you) asked to receive {site} at {email}.\n\n"
             "Confirm with this link (valid for 7 days):\n{url}\n\n"
             "If it was not you, ignore this message: nothing will be sent.",
             site=site.title, email=email, url=link)
    message.set_content(body, cte="quoted-printable")
    message["Content-Language"] = language or site.language  # set_content drops Content-*
    return message


def wire_form(config: Config, secrets: Secrets, clock: Callable[[], datetime]) -> WireForm:
    """A message as written after DATA, signed with the configured DKIM keys (loaded once)."""
    keys = keys_from_config(config, secrets)
    sign = make_signer(keys, clock) if keys else None

    def outgoing(message: EmailMessage) -> Outgoing:
        data = canonical(message.as_bytes())  # CRLF, the form DKIM signs
        return outgoing_from(sign(data) if sign is not None else data)

    return outgoing
