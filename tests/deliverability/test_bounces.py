"""Returned mail (Postfix, Exim and Gmail-style DSNs, an ARF complaint) updates exactly the
deliveries and subscribers it names; what is not understood stays in the mailbox."""

from __future__ import annotations

import mailbox
import re
import shutil
import ssl
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.engine import Engine

from publisher.cli import main
from publisher.commands.bounces import fetch_imap
from publisher.config import Config
from publisher.db import deliveries
from publisher.dev.catcher import Catcher
from publisher.mail.message_ids import MessageIds
from publisher.mail.rendered import RenderedEmail
from publisher.mail.verp import delivery_from_verp, verp_address
from publisher.sending import outbox
from publisher.sending.drain import DrainOptions
from publisher.sending.returned_mail import process_maildir
from publisher.sending.send_issue import ready, run_send, start
from publisher.subscribers import store
from tests.cli import invoke_publisher
from tests.conftest import DATA, SEED_ISSUE
from tests.deliverability.dovecot import PASSWORD, Dovecot
from tests.sending.helpers import (
    SECRETS,
    T0,
    add_confirmed,
    database,
    smtp_site,
    write_config_file,
)
from tests.servers import free_port

SAMPLES = DATA / "bounces"


def sent_site(seed_config: Config, tmp_path: Path) -> tuple[Config, Engine, dict[str, int]]:
    """Ten confirmed readers, the seed edition sent to them with VERP return paths."""
    with Catcher(tmp_path / "sent") as catcher:
        config = smtp_site(seed_config, catcher.port)
        settings = config.settings
        config = replace(config, settings=settings.model_copy(update={
            "bounces": settings.bounces.model_copy(update={"verp": True})}))
        engine = database(config)
        add_confirmed(engine, 10)
        send_id = start(engine, config, ready(config, SEED_ISSUE), T0)
        run_send(engine, config, SECRETS, send_id, lambda: T0, DrainOptions())
        envelopes = [m.split(b"X-Envelope-From: ", 1)[1].split(b"\r\n", 1)[0].decode()
                     for m in catcher.messages()]
    assert all(e.startswith("bounces+d") for e in envelopes)
    with engine.connect() as conn:
        ids = dict(conn.execute(sa.select(deliveries.c.email, deliveries.c.id)).all())
    return config, engine, ids


def fill_maildir(target: Path, ids: dict[str, int], entry_id: str) -> None:
    box = mailbox.Maildir(str(target), create=True)
    for sample in sorted(SAMPLES.glob("*.eml")):
        text = sample.read_text(encoding="utf-8")
        text = re.sub(r"\{VERP:([^}]+)\}", lambda m: verp_address(
            SECRETS.secret_keys[0], ids[m.group(1)], "example.org"), text)
        text = re.sub(r"\{MESSAGE_ID:u(\d+)@[^}]+\}", lambda m: MessageIds(
            SECRETS.secret_keys).make(entry_id, int(m.group(1)) + 1, "example.org"), text)
        box.add(text.replace("\n", "\r\n").encode())


def test_reports_change_the_right_rows_and_nothing_else(
    seed_config: Config, tmp_path: Path
) -> None:
    config, engine, ids = sent_site(seed_config, tmp_path)
    entry_id = "tag:digest.example.org,2024-06-16:2024-06-first-half"
    fill_maildir(tmp_path / "bounces", ids, entry_id)
    outcome = process_maildir(engine, tmp_path / "bounces", SECRETS.secret_keys, 1, T0)
    # The forged VERP report and the Exim bounce that quotes no Message-ID of ours match
    # only by address: recorded for the operator, acted on for nobody.
    assert outcome.kinds == {"hard": 2, "soft": 1, "complaint": 1, "unsubscribe": 0}
    assert len(outcome.unparseable) == 1 and len(outcome.unverified) == 2
    with engine.connect() as conn:
        status = {row.email: row.status for row in store.iter_all(engine)}
        replies = dict(conn.execute(sa.select(deliveries.c.email, deliveries.c.last_reply)).all())
        states = dict(conn.execute(sa.select(deliveries.c.email, deliveries.c.status)).all())
    assert status == {**{f"u{n}@example.net": "confirmed" for n in range(10)},
                      "u1@example.net": "bounced",
                      "u5@example.net": "bounced", "u7@example.net": "complained"}
    assert states["u1@example.net"] == "failed" and states["u0@example.net"] == "sent"
    assert replies["u6@example.net"].startswith("soft: 4.2.2")
    assert replies["u1@example.net"].startswith("hard: 5.1.1")
    kept = mailbox.Maildir(str(tmp_path / "bounces"), create=False)
    assert len(kept) == 7  # nothing deleted
    again = process_maildir(engine, tmp_path / "bounces", SECRETS.secret_keys, 1, T0)
    assert again.processed == 0 and len(again.unparseable) == 1  # idempotent


def test_bounced_and_complained_readers_get_no_later_issue(
    seed_config: Config, tmp_path: Path
) -> None:
    config, engine, ids = sent_site(seed_config, tmp_path)
    fill_maildir(tmp_path / "bounces", ids,
                 "tag:digest.example.org,2024-06-16:2024-06-first-half")
    process_maildir(engine, tmp_path / "bounces", SECRETS.secret_keys, 1, T0)
    later = outbox.start_send(engine, "tag:x,2024:later",
                              RenderedEmail("later", "Later", "en", "", ""), T0)
    assert sum(outbox.counts(engine, later).values()) == 7


def test_a_threshold_above_one_waits_for_repeated_hard_bounces(
    seed_config: Config, tmp_path: Path
) -> None:
    config, engine, ids = sent_site(seed_config, tmp_path)
    box = tmp_path / "one"
    fill_maildir(box, ids, "tag:digest.example.org,2024-06-16:2024-06-first-half")
    process_maildir(engine, box, SECRETS.secret_keys, 2, T0)
    status = {row.email: row.status for row in store.iter_all(engine)}
    assert status["u1@example.net"] == "confirmed" and status["u7@example.net"] == "complained"


def test_verp_addresses_verify_only_with_our_key() -> None:
    address = verp_address("k" * 20, 42, "example.org")
    assert re.fullmatch(r"bounces\+d42-[0-9a-f]{16}@example\.org", address)
    assert delivery_from_verp(["k" * 20], address.upper()) == 42
    assert delivery_from_verp(["other-key-0123456789"], address) is None


def test_the_cli_reports_what_it_kept(seed_config: Config, tmp_path: Path) -> None:
    box = mailbox.Maildir(str(tmp_path / "box"), create=True)
    box.add((SAMPLES / "human-reply.eml").read_bytes())
    shutil.copy(Path(__file__).resolve().parents[1] / "data" / "site" / "publisher.toml",
                tmp_path / "p.toml")
    result = invoke_publisher("bounces", "process", str(tmp_path / "box"),
                              config=tmp_path / "p.toml",
                              env={"PUBLISHER_SECRET_KEY": SECRETS.secret_keys[0]})
    assert result.exit_code == 0, result.output
    assert "not a bounce or complaint (kept)" in result.output


@pytest.mark.postfix  # Dovecot
def test_bounces_are_read_over_imaps_and_stay_on_the_server(
    seed_config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config, engine, ids = sent_site(seed_config, tmp_path)
    config_file = write_config_file(tmp_path, 8025, config.database_url)
    with Dovecot(free_port()) as server:
        fill_maildir(server.inbox, ids, "tag:digest.example.org,2024-06-16:2024-06-first-half")
        server.give_mail_to_its_user()
        url = f"imaps://bounces@127.0.0.1:{server.port}/INBOX"
        with pytest.raises(ssl.SSLCertVerificationError):  # an unknown CA is refused
            fetch_imap(url, PASSWORD, tmp_path / "refused")
        monkeypatch.setenv("SSL_CERT_FILE", str(server.ca_file))  # trust the test CA
        env = {"PUBLISHER_SECRET_KEY": SECRETS.secret_keys[0],
               "PUBLISHER_IMAP_PASSWORD": PASSWORD}
        command = ["--config", str(config_file), "bounces", "process", url]
        result = CliRunner().invoke(main, command, env=env)
        assert result.exit_code == 0, result.output + server.log()
        assert "fetched 7 message(s)" in result.output
        again = CliRunner().invoke(main, command, env=env)
        assert "fetched 0 message(s)" in again.output  # seen on the server, not fetched twice
        on_server = mailbox.Maildir(str(server.inbox), create=False)
        assert len(on_server) == 7  # nothing deleted on the server
    status = {row.email: row.status for row in store.iter_all(engine)}
    assert [e for e, s in sorted(status.items()) if s != "confirmed"] == [
        "u1@example.net", "u5@example.net", "u7@example.net"]
    assert status["u7@example.net"] == "complained"
