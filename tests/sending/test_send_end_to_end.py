"""A whole send to 1,000 subscribers through a real SMTP server on loopback."""

from __future__ import annotations

from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from publisher.config import Config
from publisher.dev.catcher import Catcher
from publisher.sending import outbox
from publisher.sending.drain import DrainOptions
from publisher.sending.send_issue import ready, run_send, start
from publisher.tokens import Purpose, TokenSigner, reader_from
from tests.conftest import SEED_ISSUE
from tests.sending.helpers import SECRETS, T0, add_confirmed, database, smtp_site


def parse(raw: bytes) -> EmailMessage:
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_every_subscriber_gets_exactly_one_well_formed_message(
    seed_config: Config, tmp_path: Path
) -> None:
    with Catcher(tmp_path / "Maildir") as catcher:
        config = smtp_site(seed_config, catcher.port, pool_size=8)
        engine = database(config)
        addresses = add_confirmed(engine, 1000)
        item = ready(config, SEED_ISSUE)
        send_id = start(engine, config, item, T0)
        counts = run_send(engine, config, SECRETS, send_id, lambda: T0, DrainOptions())
        received = [parse(raw) for raw in catcher.messages()]
    assert counts["sent"] == 1000 and counts["failed"] == counts["deferred"] == 0
    recipients = sorted(str(m["X-Envelope-To"]) for m in received)
    assert recipients == sorted(addresses)
    signer = TokenSigner(SECRETS.secret_keys)
    message_ids = set()
    for message in received:
        to = message["To"].addresses[0]
        assert to.addr_spec == str(message["X-Envelope-To"])
        assert to.display_name == "User " + to.username[1:]
        assert message["Subject"] == "2024年6月上半月重要LLM论文"
        assert message["From"].addresses[0].addr_spec == "digest@example.org"
        assert message["Date"] and message["MIME-Version"] == "1.0"
        assert message["List-Id"].endswith("<digest.example.org>")
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert message["Reply-To"] == "editor@example.org"
        message_ids.add(message["Message-ID"])
        assert message.get_content_type() == "multipart/alternative"
        text, html = (part.get_content_type() for part in message.iter_parts())
        assert (text, html) == ("text/plain", "text/html")
        unsubscribe = message["List-Unsubscribe"].split(",")[0].strip().strip("<>")
        token = unsubscribe.rsplit("/", 1)[1]
        assert unsubscribe.startswith("http://127.0.0.1:8000/unsubscribe/")
        reader = reader_from(signer, Purpose.UNSUBSCRIBE, token)
        subscriber = reader.id
        body = message.get_body(("plain",))
        assert body is not None and unsubscribe in body.get_content()
        assert f"u{subscriber - 1}@example.net" == to.addr_spec
        assert reader.made_for(to.addr_spec) and not reader.made_for("someone@example.net")
    assert len(message_ids) == 1000
    assert outbox.is_finished(engine, send_id)


def test_starting_a_send_twice_snapshots_the_audience_once(
    seed_config: Config, tmp_path: Path
) -> None:
    engine = database(seed_config)
    add_confirmed(engine, 5)
    item = ready(seed_config, SEED_ISSUE)
    first = start(engine, seed_config, item, T0)
    add_confirmed(engine, 3, start=100)
    assert start(engine, seed_config, item, T0) == first
    assert sum(outbox.counts(engine, first).values()) == 5
