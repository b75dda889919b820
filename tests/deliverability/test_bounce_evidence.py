"""Anyone can mail the bounce address: only evidence a stranger cannot forge changes a
subscriber. Also: DSNs with several recipient groups, Exim text with an IP address, a report
without a boundary, unsubscribe requests by mail, and Message-IDs that reveal nothing."""

from __future__ import annotations

import mailbox
import re
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.engine import Engine

from publisher.cli import main
from publisher.config import Config
from publisher.db import bounce_reports
from publisher.mail.message_ids import MessageIds
from publisher.mail.returned import parse_report
from publisher.sending.returned_mail import process_maildir
from publisher.subscribers import store
from publisher.tokens import TokenSigner, unsubscribe_token
from tests.conftest import DATA
from tests.deliverability.test_bounces import sent_site
from tests.sending.helpers import SECRETS, T0, write_config_file

ENTRY_ID = "tag:digest.example.org,2024-06-16:2024-06-first-half"


def reader(address: str) -> int:
    return int(address.split("@")[0][1:]) + 1  # u<n> is subscriber n + 1


def mail(folder: str, name: str) -> bytes:
    text = (DATA / "bounces" / folder / name).read_text(encoding="utf-8")
    ids, signer = MessageIds(SECRETS.secret_keys), TokenSigner(SECRETS.secret_keys)
    text = re.sub(r"\{MESSAGE_ID:([^}]+)\}",
                  lambda m: ids.make(ENTRY_ID, reader(m.group(1)), "example.org"), text)
    text = re.sub(r"\{UNSUBSCRIBE_TOKEN:([^}]+)\}",
                  lambda m: unsubscribe_token(signer, reader(m.group(1)),
                                                     m.group(1)), text)
    return text.replace("\n", "\r\n").encode()


def into_maildir(target: Path, *raws: bytes) -> Path:
    box = mailbox.Maildir(str(target), create=True)
    for raw in raws:
        box.add(raw)
    return target


def statuses(engine: Engine) -> dict[str, str]:
    return {row.email: row.status for row in store.iter_all(engine)}


def test_forged_reports_from_a_stranger_change_nobody_and_are_listed(
    seed_config: Config, tmp_path: Path
) -> None:
    config, engine, _ids = sent_site(seed_config, tmp_path)
    forged = sorted((DATA / "bounces" / "forged").glob("*.eml"))
    box = into_maildir(tmp_path / "box", *(mail("forged", p.name) for p in forged))
    outcome = process_maildir(engine, box, SECRETS.secret_keys, 1, T0)
    assert set(statuses(engine).values()) == {"confirmed"}
    assert len(outcome.unverified) == 3 and sum(outcome.kinds.values()) == 0
    with engine.connect() as conn:
        recorded = conn.execute(sa.select(bounce_reports.c.kind, bounce_reports.c.recipient)
                                .order_by(bounce_reports.c.recipient)).all()
    assert [tuple(r) for r in recorded] == [("hard", "u2@example.net"), ("hard", "u4@example.net"),
                                            ("complaint", "u8@example.net")]
    config_file = write_config_file(tmp_path / "cli", 25, config.database_url)
    box2 = into_maildir(tmp_path / "box2", mail("forged", "arf-naming-a-reader.eml"))
    result = CliRunner().invoke(main, ["--config", str(config_file), "bounces", "process",
                                       str(box2)],
                                env={"PUBLISHER_SECRET_KEY": SECRETS.secret_keys[0]})
    assert result.exit_code == 0, result.output
    assert "unverified, changed nobody (recorded)" in result.output
    assert statuses(engine)["u8@example.net"] == "confirmed"


def test_each_recipient_group_of_a_dsn_is_its_own_result(
    seed_config: Config, tmp_path: Path
) -> None:
    _config, engine, _ids = sent_site(seed_config, tmp_path)
    box = into_maildir(tmp_path / "box", mail("real-use", "two-recipient-groups.eml"))
    outcome = process_maildir(engine, box, SECRETS.secret_keys, 1, T0)
    now = statuses(engine)
    assert now["u3@example.net"] == "bounced", "the failed recipient, named by our Message-ID"
    assert now["u2@example.net"] == "confirmed", "the delayed one is not a hard bounce"
    assert outcome.kinds["hard"] == 1 and len(outcome.unverified) == 1


def test_an_exim_bounce_takes_its_status_from_the_smtp_reply_not_an_ip_address() -> None:
    reports = parse_report(mail("real-use", "exim-relay-ip.eml"), SECRETS.secret_keys)
    assert reports is not None and len(reports) == 1
    assert (reports[0].kind, reports[0].status) == ("hard", "5.1.1")
    assert reports[0].original_message_id.startswith("<")


def test_an_exim_bounce_quoting_our_message_id_bounces_that_reader(
    seed_config: Config, tmp_path: Path
) -> None:
    _config, engine, _ids = sent_site(seed_config, tmp_path)
    box = into_maildir(tmp_path / "box", mail("real-use", "exim-relay-ip.eml"))
    process_maildir(engine, box, SECRETS.secret_keys, 1, T0)
    assert statuses(engine)["u3@example.net"] == "bounced"


def test_a_report_without_a_boundary_stays_in_new_and_is_listed(
    seed_config: Config, tmp_path: Path
) -> None:
    _config, engine, _ids = sent_site(seed_config, tmp_path)
    box = into_maildir(tmp_path / "box", mail("real-use", "report-without-boundary.eml"))
    outcome = process_maildir(engine, box, SECRETS.secret_keys, 1, T0)
    assert len(outcome.unparseable) == 1 and outcome.processed == 0
    assert [m.get_subdir() for m in mailbox.Maildir(str(box)).values()] == ["new"]
    again = process_maildir(engine, box, SECRETS.secret_keys, 1, T0)
    assert again.unparseable == outcome.unparseable


def test_an_unsubscribe_by_mail_is_applied_once_and_a_forged_one_changes_nobody(
    seed_config: Config, tmp_path: Path
) -> None:
    _config, engine, _ids = sent_site(seed_config, tmp_path)
    box = into_maildir(tmp_path / "box", mail("real-use", "mailto-unsubscribe.eml"),
                       mail("real-use", "mailto-unsubscribe.eml"),
                       mail("real-use", "mailto-unsubscribe-forged.eml"))
    outcome = process_maildir(engine, box, SECRETS.secret_keys, 1, T0)
    now = statuses(engine)
    assert now["u4@example.net"] == "unsubscribed"
    assert [s for s in now.values() if s != "confirmed"] == ["unsubscribed"]
    assert outcome.kinds["unsubscribe"] == 2 and len(outcome.unverified) == 1
    with engine.connect() as conn:
        events = store.events(conn, reader("u4@example.net"))
    assert [e for e in events if e[0] == "unsubscribed"] == [
        ("unsubscribed", "confirmed", "unsubscribed")], "idempotent: one event"


def test_message_ids_reveal_no_subscriber_number_and_mails_unsubscribe_elsewhere(
    seed_config: Config, tmp_path: Path
) -> None:
    ids = MessageIds(SECRETS.secret_keys)
    first, second = (ids.make(ENTRY_ID, n, "example.org") for n in (1, 2))
    assert re.fullmatch(r"<[0-9a-f]{32}@example\.org>", first)
    assert first != second and ".1@" not in first and ".2@" not in second
    assert ids.make(ENTRY_ID, 1, "example.org") == first, "a re-send is the same message"
    assert seed_config.settings.sender.unsubscribe_address == "unsubscribe@example.org"
