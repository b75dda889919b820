"""`publisher import`: other tools' subscriber exports, recognised from names and headers,
with consent travelling, opt-outs suppressed, dry runs and errors by file and line.

The inputs are files under tests/data/imports/, built from the header rows those tools'
exports document (a BOM, CRLF line ends, quoted commas in TAGS, a German Mailchimp header).
"""

from __future__ import annotations

import subprocess
import zipfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from publisher.db import open_database, subscriber_events, subscriber_table, suppressions
from publisher.errors import InvalidAddress
from publisher.subscribers import store
from publisher.subscribers.addresses import normalise_address
from publisher.subscribers.store import Consent
from tests.cli import run_publisher_here
from tests.conftest import REPO
from tests.subscribers.helpers import ENV, site_config, url_of

DATA = REPO / "tests" / "data" / "imports"
NOW = datetime(2024, 6, 1, tzinfo=UTC)


def publisher_import(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real `publisher import …`, run in this process."""
    return run_publisher_here(config, "import", *args, env=ENV)


def mailchimp_zip(folder: Path) -> Path:
    """Mailchimp's audience export: one CSV per audience (subscribed, unsubscribed, cleaned)."""
    archive = folder / "members_export_2a1b3c4d5e.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for csv_file in sorted((DATA / "mailchimp").glob("*.csv")):
            zipped.write(csv_file, csv_file.name)
    return archive


def rows_of(config: Path) -> dict[str, Any]:
    engine = open_database(url_of(config))
    with engine.connect() as conn:
        rows = conn.execute(sa.select(subscriber_table)).all()
    engine.dispose()
    return {str(row.email): row for row in rows}


def created_details(config: Path) -> dict[int, dict[str, str]]:
    engine = open_database(url_of(config))
    with engine.connect() as conn:
        rows = conn.execute(sa.select(subscriber_events.c.subscriber_id,
                                      subscriber_events.c.detail)
                            .where(subscriber_events.c.event == "created")).all()
    engine.dispose()
    return {int(i): dict(d) for i, d in rows}


def suppressed(config: Path) -> dict[str, str]:
    engine = open_database(url_of(config))
    with engine.connect() as conn:
        rows = conn.execute(sa.select(suppressions.c.email_hash, suppressions.c.reason)).all()
    engine.dispose()
    return {str(h): str(r) for h, r in rows}


def hash_of(email: str) -> str:
    return store.email_hash(normalise_address(email))


def test_a_mailchimp_zip_keeps_each_readers_consent_and_suppresses_its_opt_outs(
        tmp_path: Path) -> None:
    config = site_config(tmp_path)
    done = publisher_import(config, str(mailchimp_zip(tmp_path)))
    assert done.returncode == 0, done.stderr
    assert "subscribed_members_export_2a1b3c4d5e.csv: Mailchimp audience: pending 0, " \
           "confirmed 3, unsubscribed 0" in done.stdout
    assert done.stdout.strip().endswith(
        "added 3, updated 0, left 0, suppressed 2, unchanged 0, skipped 0")
    rows = rows_of(config)
    assert sorted(rows) == ["ada@example.org", "grace@example.net", "linus@example.com"]
    ada = rows["ada@example.org"]
    assert (ada.status, ada.name, ada.tags) == ("confirmed", "Ada Lovelace", ["llm", "weekly"])
    assert ada.confirmed_at == datetime(2021, 3, 4, 10, 15, tzinfo=UTC)
    assert ada.consent_at == datetime(2021, 3, 4, 10, 11, 12, tzinfo=UTC)
    assert (ada.consent_source, ada.consent_ip) == ("import:mailchimp", "198.51.100.7")
    assert created_details(config)[ada.id] == {
        "source": "import:mailchimp", "optin_time": "2021-03-04 10:11:12",
        "optin_ip": "198.51.100.7", "confirm_time": "2021-03-04 10:15:00",
        "confirm_ip": "198.51.100.7"}
    assert rows["grace@example.net"].tags == ["Early-readers", "llm-ai"]
    linus = rows["linus@example.com"]  # opted in, no confirmation recorded: the opt-in time
    assert linus.confirmed_at == datetime(2023, 1, 15, 7, 30, tzinfo=UTC)
    assert suppressed(config) == {hash_of("left@example.org"): "unsubscribed",
                                  hash_of("gone@example.com"): "bounced"}


def test_a_german_mailchimp_header_with_a_bom_and_crlf_is_recognised(tmp_path: Path) -> None:
    config = site_config(tmp_path)
    done = publisher_import(config, str(DATA / "mitglieder_export_de.csv"))
    assert done.returncode == 0, done.stderr
    assert "Mailchimp audience: pending 0, confirmed 2" in done.stdout
    juergen = rows_of(config)["juergen@example.de"]
    assert (juergen.name, juergen.tags) == ("Jürgen Müller", ["KI-Sprachmodelle",
                                                               "Wochenbrief"])
    assert juergen.confirmed_at == datetime(2021, 9, 1, 6, 2, tzinfo=UTC)


@pytest.mark.parametrize(("name", "label", "counts"), [
    ("email_list.ai-weekly.csv", "Substack email list",
     "pending 0, confirmed 2, unsubscribed 0, bounced 1, complained 0"),
    ("buttondown_subscribers.csv", "Buttondown subscribers",
     "pending 1, confirmed 1, unsubscribed 1, bounced 0, complained 1"),
    ("beehiiv_members.csv", "beehiiv members",
     "pending 1, confirmed 1, unsubscribed 1, bounced 0, complained 0"),
    ("ghost_members.csv", "Ghost members",
     "pending 0, confirmed 1, unsubscribed 1, bounced 0, complained 0"),
    ("listmonk.csv", "listmonk subscribers",
     "pending 0, confirmed 2, unsubscribed 0, bounced 0, complained 0"),
    ("../subscribers/export.csv", "publisher export", ""),
])
def test_each_tools_export_is_recognised_from_its_header_alone(
        tmp_path: Path, name: str, label: str, counts: str) -> None:
    config = site_config(tmp_path)
    done = publisher_import(config, str(DATA / name), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert f": {label}" in done.stdout
    assert counts in done.stdout
    assert done.stdout.strip().endswith("dry run: nothing written")
    assert rows_of(config) == {}


def test_each_tool_brings_its_readers_with_their_status_time_and_tags(tmp_path: Path) -> None:
    config = site_config(tmp_path)
    for name in ("email_list.ai-weekly.csv", "buttondown_subscribers.csv",
                 "beehiiv_members.csv", "ghost_members.csv", "listmonk.csv"):
        done = publisher_import(config, str(DATA / name))
        assert done.returncode == 0, done.stderr
    rows = rows_of(config)
    assert {email: (row.status, row.tags) for email, row in rows.items()} == {
        "paid@example.org": ("confirmed", ["paid"]), "free@example.org": ("confirmed", []),
        "reader@example.org": ("confirmed", ["llm", "weekly"]), "new@example.org": ("pending", []),
        "active@example.org": ("confirmed", []), "waiting@example.org": ("pending", []),
        "member@example.org": ("confirmed", ["Early", "VIP"]),
        "lm@example.org": ("confirmed", ["weekly"]), "lm2@example.org": ("confirmed", [])}
    assert rows["paid@example.org"].consent_at == datetime(2022, 5, 5, 10, tzinfo=UTC)
    assert rows["active@example.org"].confirmed_at == datetime(2023, 3, 1, 10, tzinfo=UTC)
    assert rows["member@example.org"].name == "Mia Member"
    assert suppressed(config) == {
        hash_of("disabled@example.org"): "bounced", hash_of("gone@example.org"): "unsubscribed",
        hash_of("spam@example.org"): "complained", hash_of("left@example.org"): "unsubscribed",
        hash_of("quiet@example.org"): "unsubscribed"}


def test_a_dry_run_names_every_row_in_error_by_file_and_line_and_writes_nothing(
        tmp_path: Path) -> None:
    config = site_config(tmp_path)
    bad = DATA / "broken" / "ghost_members_errors.csv"
    done = publisher_import(config, str(bad), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "Ghost members: pending 0, confirmed 1," in done.stdout
    assert "rows in error: 2" in done.stdout
    assert f"{bad}:3: email: " in done.stderr
    assert f"{bad}:4: created_at: 'last tuesday' is not a date and time" in done.stderr
    assert rows_of(config) == {}


def test_rows_in_error_stop_the_whole_import_unless_skip_errors(tmp_path: Path) -> None:
    config = site_config(tmp_path)
    bad = DATA / "broken" / "ghost_members_errors.csv"
    refused = publisher_import(config, str(bad))
    assert refused.returncode == 1
    assert "2 row(s) in error: nothing written" in refused.stderr
    assert f"{bad}:4: created_at:" in refused.stderr
    assert rows_of(config) == {}
    taken = publisher_import(config, str(bad), "--skip-errors")
    assert taken.returncode == 0, taken.stderr
    assert sorted(rows_of(config)) == ["good@example.org"]


def test_a_file_no_tool_wrote_is_refused_naming_what_publisher_reads(tmp_path: Path) -> None:
    config = site_config(tmp_path)
    unknown = DATA / "broken" / "unknown_tool.csv"
    done = publisher_import(config, str(unknown))
    assert done.returncode == 1
    assert (f"{unknown}:1: not a subscriber export publisher recognises "
            "(header: address,full_name); it reads: Mailchimp audience") in done.stderr


def test_running_the_same_import_again_changes_nothing(tmp_path: Path) -> None:
    config = site_config(tmp_path)
    archive = mailchimp_zip(tmp_path)
    assert publisher_import(config, str(archive)).returncode == 0
    before = (rows_of(config), created_details(config), suppressed(config))
    again = publisher_import(config, str(archive))
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip().endswith(
        "added 0, updated 3, left 0, suppressed 0, unchanged 2, skipped 0")
    after = (rows_of(config), created_details(config), suppressed(config))
    assert {e: (r.status, r.confirmed_at, r.tags) for e, r in after[0].items()} == \
        {e: (r.status, r.confirmed_at, r.tags) for e, r in before[0].items()}
    assert after[1:] == before[1:]


def test_an_import_never_undoes_an_opt_out_here_and_brings_the_tools_opt_outs(
        tmp_path: Path) -> None:
    config = site_config(tmp_path)
    engine = open_database(url_of(config))
    with engine.begin() as conn:
        ada, _ = store.add(conn, "ada@example.org", "Ada", "confirmed", Consent("cli", NOW), NOW)
        store.unsubscribe(conn, ada.id, NOW, "link")
        store.add(conn, "left@example.org", "Lee", "confirmed", Consent("cli", NOW), NOW)
    engine.dispose()
    done = publisher_import(config, str(mailchimp_zip(tmp_path)))
    assert done.returncode == 0, done.stderr
    assert ("subscribed_members_export_2a1b3c4d5e.csv:2: email: unsubscribed on 2024-06-01; "
            "not changed (they must subscribe again themselves)") in done.stderr
    rows = rows_of(config)
    assert rows["ada@example.org"].status == "unsubscribed"
    assert rows["left@example.org"].status == "unsubscribed"  # left Mailchimp: leaves here
    assert hash_of("left@example.org") not in suppressed(config)


def test_imported_readers_keep_their_old_confirmation_and_enter_the_steps_only_with_welcome(
        tmp_path: Path) -> None:
    """An import is not a confirmation: readers keep the time they confirmed over there, and
    only --welcome enrols them in the automations (from the import's time)."""
    plain, welcomed = site_config(tmp_path / "plain"), site_config(tmp_path / "welcome")
    assert publisher_import(plain, str(DATA / "ghost_members.csv")).returncode == 0
    started = datetime.now(UTC)
    assert publisher_import(welcomed, str(DATA / "ghost_members.csv"),
                            "--welcome").returncode == 0
    original = datetime(2023, 9, 1, 12, tzinfo=UTC)
    assert rows_of(plain)["member@example.org"].confirmed_at == original
    assert rows_of(plain)["member@example.org"].automations_at is None
    assert rows_of(welcomed)["member@example.org"].confirmed_at == original
    enrolled = rows_of(welcomed)["member@example.org"].automations_at
    assert enrolled is not None and enrolled >= started.replace(microsecond=0)
    assert rows_of(welcomed)["member@example.org"].consent_at == original


def test_an_imported_opt_out_is_lifted_only_by_the_persons_own_request(engine: Engine) -> None:
    left = store.NewRow(2, normalise_address("left@example.org"), "", (), "unsubscribed")
    with engine.begin() as conn:
        first = store.record_departures(conn, [left], NOW, "import:mailchimp")
        again = store.record_departures(conn, [left], NOW, "import:mailchimp")
        with pytest.raises(InvalidAddress, match="unsubscribed before it was imported"):
            store.add(conn, "left@example.org", "", "confirmed", Consent("cli", NOW), NOW)
        added = store.add_many(conn, [store.NewRow(5, left.address, "", ())], "confirmed",
                               Consent("import", NOW), NOW)
    assert (first.suppressed, again.suppressed, again.unchanged) == (1, 0, 1)
    assert added.skipped == [(5, "email: unsubscribed before it was imported; not changed "
                                 "(they must subscribe again themselves)")]
    asked = store.request_subscription(engine, left.address, "Lee", Consent("form", NOW), NOW)
    assert asked.status == "pending"
    with engine.connect() as conn:
        assert not store.is_suppressed(conn, left.address)


def test_a_file_not_in_utf8_is_reported_at_the_line_that_cannot_be_read(
        tmp_path: Path) -> None:
    config = site_config(tmp_path)
    latin1 = DATA / "broken" / "ghost_members_latin1.csv"
    done = publisher_import(config, str(latin1), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert (f"{latin1}:3: not UTF-8 near this line (invalid start byte); "
            "save the file as UTF-8") in done.stderr
    assert "rows in error: 1" in done.stdout
