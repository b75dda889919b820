"""The fast path (prepared bytes + slots) against the slow path (an EmailMessage per
recipient): same headers, same text, same HTML document, for many recipients, in both
transfer encodings; and 8bit bodies only go to servers that offer 8BITMIME."""

from __future__ import annotations

from dataclasses import replace
from email import message_from_bytes, policy
from email.headerregistry import Address
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path

import pytest

from publisher import urls
from publisher.config import Config
from publisher.mail import render as email_render
from publisher.mail.message_ids import MessageIds
from publisher.mail.mime import MAX_LINE, SLOT_BUDGET, Recipient, SendContext, list_id
from publisher.sending.drain import DrainOptions, make_job
from publisher.sending.send_issue import ready, run_send, start
from publisher.tokens import TokenSigner, preferences_token, unsubscribe_token
from tests.conftest import SEED_ISSUE
from tests.sending.helpers import SECRETS, T0, add_confirmed, database, smtp_site
from tests.servers import smtp_sink

NAMES = ["", "Ada Lovelace", "读者", "张 伟", "Zoë Ünal-Øster", "O'Brien, \"Pat\"",
         "<script>&amp;</script>", "Ελένη", "مريم", "😀 emoji fan", "a" * 100, "长" * 100,
         "Mixed 名字 with spaces 和 中文", "  padded  ", "tab\there", "=?utf-8?q?fake?="]


def recipients() -> list[Recipient]:
    return [Recipient(n + 1, f"u{n}+tag@example.net", NAMES[n % len(NAMES)])
            for n in range(160)]


def slow_path(context: SendContext, signer: TokenSigner, recipient: Recipient) -> EmailMessage:
    """What the stdlib builds from the same rendered issue for one recipient."""
    unsub_token = unsubscribe_token(signer, recipient.subscriber_id, recipient.email)
    unsub = urls.unsubscribe_url(context.base_url, unsub_token)
    prefs = urls.preferences_url(context.base_url,
                                 preferences_token(signer, recipient.subscriber_id,
                                                   recipient.email))
    name = " ".join(recipient.name.replace("\t", " ").split())
    html, text = email_render.personalise(context.rendered, email_render.Recipient(
        recipient.email, name, unsub, prefs))
    message = EmailMessage(policy=policy.SMTP)
    message["From"] = Address(context.from_name, addr_spec=context.from_address)
    message["To"] = Address(name, addr_spec=recipient.email)
    message["Subject"] = context.rendered.subject
    message["Message-ID"] = MessageIds(SECRETS.secret_keys).make(
        context.entry_id, recipient.subscriber_id, "example.org")
    message["List-Id"] = list_id(context)
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Reply-To"] = context.reply_to or ""
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    message["Content-Language"] = context.rendered.language  # set_content drops Content-*
    return message


class Document(HTMLParser):
    """An HTML document as the sequence a browser's tokenizer sees (tags, attributes, text)."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tokens: list[object] = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tokens.append(("start", tag, attrs))

    def handle_endtag(self, tag: str) -> None:
        self.tokens.append(("end", tag))

    def handle_data(self, data: str) -> None:
        self.tokens.append(("text", data))

    def handle_comment(self, data: str) -> None:
        self.tokens.append(("comment", " ".join(data.split())))


def parse(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def body(message: EmailMessage, kind: str) -> str:
    """A part's text in canonical form: LF line ends, no newline added before the boundary
    (the stdlib ends every part it builds with one)."""
    part = message.get_body((kind,))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n").removesuffix("\n")


@pytest.mark.parametrize("encoding", ["8bit", "quoted-printable"])
def test_fast_path_reparses_like_the_stdlib_slow_path(seed_config: Config,
                                                      encoding: str) -> None:
    settings = seed_config.settings
    config = replace(seed_config, settings=settings.model_copy(update={
        "email": settings.email.model_copy(update={"transfer_encoding": encoding})}))
    job = make_job(1, "tag:digest.example.org,2024-06-16:x", ready(config, SEED_ISSUE).rendered,
                   config, SECRETS, T0)
    context = job.builder.personaliser.context
    signer = TokenSigner(SECRETS.secret_keys)
    encodings = set()
    same_as_stdlib = 0
    for recipient in recipients():
        raw = job.builder.prepared.personalise(job.builder.personaliser.values(recipient))
        assert all(len(line) <= MAX_LINE for line in raw.split(b"\r\n"))
        assert b"\n" not in raw.replace(b"\r\n", b"") and b"\r" not in raw.replace(b"\r\n", b"")
        fast, slow = parse(raw), parse(slow_path(context, signer, recipient).as_bytes())
        assert fast.defects == []
        for header in ("From", "Subject", "Message-ID", "List-Id", "Reply-To",
                       "List-Unsubscribe-Post", "Content-Language"):
            assert str(fast[header]) == str(slow[header]), (header, recipient)
        # To must give back exactly the name. The stdlib gets two kinds wrong, so it is only
        # the oracle where it gets the name right: it folds a long CJK name inside words
        # (its parser then shows spaces that are not there) and leaves "=?…?=" unencoded.
        to, name = fast["To"].addresses[0], " ".join(recipient.name.split())
        assert (to.display_name, to.addr_spec) == (name, recipient.email)
        if slow["To"].addresses[0].display_name == name:
            assert str(fast["To"]) == str(slow["To"])
            same_as_stdlib += 1
        assert body(fast, "plain") == body(slow, "plain")
        assert Document(body(fast, "html")).tokens == Document(body(slow, "html")).tokens
        encodings.add(tuple(str(p["Content-Transfer-Encoding"]) for p in fast.iter_parts()))
    assert same_as_stdlib >= 140
    if encoding == "8bit":  # long names take the quoted-printable variant, the rest 8bit
        assert encodings == {("8bit", "8bit"), ("quoted-printable", "quoted-printable")}
        assert len("长" * 100) * 3 > SLOT_BUDGET
    else:
        assert encodings == {("quoted-printable", "quoted-printable")}


@pytest.mark.postfix
def test_eight_bit_mail_waits_for_a_server_that_offers_8bitmime(
    seed_config: Config, tmp_path: Path
) -> None:
    with smtp_sink("-8") as port:
        config = smtp_site(seed_config, port, f"sqlite:///{tmp_path / 'a.db'}")
        engine = database(config)
        add_confirmed(engine, 3)
        send_id = start(engine, config, ready(config, SEED_ISSUE), T0)
        counts = run_send(engine, config, SECRETS, send_id, lambda: T0, DrainOptions())
        assert counts["deferred"] == 3 and counts["sent"] == 0
        settings = config.settings
        seven_bit = replace(config, settings=settings.model_copy(update={
            "email": settings.email.model_copy(update={"transfer_encoding": "quoted-printable"}),
            "database": settings.database.model_copy(update={
                "url": f"sqlite:///{tmp_path / 'b.db'}"})}))
        engine = database(seven_bit)
        add_confirmed(engine, 3)
        send_id = start(engine, seven_bit, ready(seven_bit, SEED_ISSUE), T0)
        counts = run_send(engine, seven_bit, SECRETS, send_id, lambda: T0, DrainOptions())
        assert counts["sent"] == 3
