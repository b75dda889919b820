"""Through a real MTA: publisher signs, Postfix relays into a Maildir, the message read back
verifies (both DKIM signatures), is intact, and SpamAssassin scores it well below 1."""

from __future__ import annotations

import asyncio
import re
import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import dkim
import pytest

from publisher.config import Config
from publisher.mail.dkim_signing import generate, keys_from_config, write_key
from publisher.mail.mime import Recipient
from publisher.mail.smtp import Kind, send_one
from publisher.sending.drain import DrainOptions, make_job
from publisher.sending.send_issue import ready, run_send, start
from publisher.subscribers.confirmation import confirmation_message, wire_form
from tests.conftest import SEED_ISSUE, make_seed_config
from tests.deliverability.postfix import Postfix
from tests.sending.helpers import SECRETS, add_confirmed, database, smtp_site
from tests.servers import free_port, server_binary

pytestmark = pytest.mark.postfix  # every test reads what a real Postfix delivered


def dkim_site(config: Config, tmp_path: Path) -> Config:
    write_key(generate("rsa", 2048), tmp_path / "rsa.pem")
    write_key(generate("ed25519"), tmp_path / "ed.pem")
    dkim_settings = config.settings.dkim.model_copy(update={
        "selector": "pub2024", "domain": "example.org", "key_path": str(tmp_path / "rsa.pem"),
        "ed25519_key_path": str(tmp_path / "ed.pem"), "ed25519_selector": "pub2024ed"})
    return replace(config, settings=config.settings.model_copy(update={"dkim": dkim_settings}))


def dns_for(config: Config) -> dict[bytes, bytes]:
    return {f"{key.selector}._domainkey.{key.domain}.".encode(): key.dns_record().encode()
            for key in keys_from_config(config, SECRETS)}


@pytest.fixture(scope="module")
def delivered(tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, list[bytes]]:
    tmp_path = tmp_path_factory.mktemp("postfix")
    base = make_seed_config(tmp_path)
    with Postfix(free_port()) as postfix:
        config = dkim_site(smtp_site(base, postfix.port), tmp_path)
        engine = database(config)
        add_confirmed(engine, 3)
        now = datetime.now(UTC)  # a real Date: spam filters score dates far in the past
        send_id = start(engine, config, ready(config, SEED_ISSUE), now)
        counts = run_send(engine, config, SECRETS, send_id, lambda: now, DrainOptions())
        assert counts["sent"] == 3, postfix.log()
        return config, postfix.delivered(3)


def verify_both_signatures(config: Config, raw: bytes) -> set[bytes]:
    """Both DKIM signatures verify (public keys through dkimpy's DNS hook); returns the
    names of the signed headers."""
    records = dns_for(config)

    def dnsfunc(name: bytes, timeout: int = 5) -> bytes | None:
        return records.get(name if name.endswith(b".") else name + b".")

    assert raw.count(b"DKIM-Signature:") == 2
    checker = dkim.DKIM(raw)
    assert checker.verify(idx=0, dnsfunc=dnsfunc), "rsa-sha256 signature failed"
    assert checker.verify(idx=1, dnsfunc=dnsfunc), "ed25519-sha256 signature failed"
    signed = re.search(rb"h=([^;]+);", raw.replace(b"\r\n\t", b"").replace(b"\r\n ", b""))
    assert signed
    return {h.strip().lower() for h in signed.group(1).split(b":")}


def test_both_dkim_signatures_verify_after_the_mta(delivered: tuple[Config, list[bytes]]) -> None:
    config, messages = delivered
    for raw in messages:
        assert verify_both_signatures(config, raw) >= {
            b"from", b"to", b"subject", b"date", b"message-id", b"mime-version",
            b"content-type", b"list-id", b"list-unsubscribe", b"list-unsubscribe-post"}


def test_the_confirmation_mail_is_signed_too(tmp_path: Path) -> None:
    base = make_seed_config(tmp_path)
    now = datetime.now(UTC)
    with Postfix(free_port()) as postfix:
        config = dkim_site(smtp_site(base, postfix.port), tmp_path)
        message = confirmation_message(config, "reader@example.net", "读者", "token", now)
        outgoing = wire_form(config, SECRETS, lambda: now)(message)
        reply = asyncio.run(send_one(config.settings.smtp, SECRETS,
                                     config.settings.sender.from_address,
                                     "reader@example.net", outgoing))
        assert reply.kind is Kind.SENT, reply.text
        raw = postfix.delivered(1)[0]
    assert verify_both_signatures(config, raw) >= {b"from", b"to", b"subject", b"date",
                                                   b"message-id"}


def test_headers_and_body_survive_the_mta(delivered: tuple[Config, list[bytes]]) -> None:
    config, messages = delivered
    item = ready(config, SEED_ISSUE)
    date = message_from_bytes(messages[0], policy=policy.default)["Date"].datetime
    job = make_job(1, item.issue.entry_id(config.site.domain), item.rendered, config, SECRETS,
                   date)
    for raw in messages:
        received = message_from_bytes(raw, policy=policy.default)
        assert isinstance(received, EmailMessage)
        assert received["Received"] and "mx.example.net" in str(received["Received"])
        address = received["To"].addresses[0]
        number = int(address.username[1:])
        sent = message_from_bytes(job.builder.prepared.personalise(job.builder.personaliser.values(
            Recipient(number + 1, address.addr_spec, f"User {number}"))), policy=policy.default)
        assert isinstance(sent, EmailMessage)
        for header in ("From", "To", "Subject", "Message-ID", "List-Id", "List-Unsubscribe",
                       "List-Unsubscribe-Post", "Date"):
            assert str(received[header]) == str(sent[header]), header
        for kind in ("plain", "html"):
            got, want = received.get_body((kind,)), sent.get_body((kind,))
            assert got is not None and want is not None
            # the Maildir stores LF line ends; compare the content, not the line endings
            assert got.get_content().replace("\r\n", "\n") == want.get_content().replace(
                "\r\n", "\n")


def test_spamassassin_scores_the_seed_edition_below_one(
    delivered: tuple[Config, list[bytes]],
) -> None:
    _, messages = delivered
    result = subprocess.run([server_binary("postfix", "spamassassin"), "-L", "-t"],
                            input=messages[0], capture_output=True, timeout=120)
    report = result.stdout.decode("utf-8", "replace")
    status = re.search(r"X-Spam-Status: (\w+), score=(-?[\d.]+) required=[\d.]+ tests=(.*?)"
                       r" autolearn", report.replace("\n\t", " "), re.S)
    assert status, report[-3000:]
    score, rules = float(status.group(2)), status.group(3)
    points = {m.group(2): float(m.group(1)) for m in
              re.finditer(r"^\s*(-?\d+\.\d+)\s+([A-Z][A-Z0-9_]+)\s", report, re.M)}
    assert set(points) == {rule.strip() for rule in rules.split(",")}, report[-3000:]
    # ALL_TRUSTED (-1) is for mail that only crossed our own loopback relays; a receiver
    # on the internet never grants it, so the score must stay low without it too.
    untrusted = score - points.get("ALL_TRUSTED", 0.0)
    print(f"SpamAssassin score {score} ({untrusted:.3f} without ALL_TRUSTED), "  # noqa: T201
          f"rules hit: {points}")
    assert score < 1.0, f"SpamAssassin score {score}, rules hit: {rules}"
    assert untrusted < 1.0, f"SpamAssassin score without ALL_TRUSTED {untrusted}: {points}"
    for rule in ("MISSING_DATE", "MPART_ALT_DIFF", "HTML_IMAGE_ONLY", "MISSING_MID",
                 "HTML_FONT_LOW_CONTRAST"):
        assert rule not in rules
