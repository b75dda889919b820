"""`publisher subscribers export --format mailchimp|substack|listmonk|buttondown`: the
tool's columns, the readers who read, and a file `publisher import` reads back."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from publisher.db import open_database, subscriber_table
from publisher.subscribers import store
from publisher.subscribers.store import Consent
from tests.subscribers.helpers import cli, site_config, url_of
from tests.subscribers.test_tool_import import publisher_import

NOW = datetime(2024, 6, 1, tzinfo=UTC)
HEADERS = {
    "mailchimp": "Email Address,First Name,Last Name,TAGS,OPTIN_TIME,CONFIRM_TIME",
    "substack": "email,name,active_subscription,expiry,plan,email_disabled,created_at",
    "listmonk": "email,name,attributes",
    "buttondown": "email,notes,metadata,tags,creation_date,subscriber_type",
}
LABELS = {"mailchimp": "Mailchimp audience", "substack": "Substack email list",
          "listmonk": "listmonk subscribers", "buttondown": "Buttondown subscribers"}


def seeded(folder: Path) -> Path:
    config = site_config(folder)
    engine = open_database(url_of(config))
    consent = Consent("form", datetime(2023, 2, 3, 4, 5, 6, tzinfo=UTC), "198.51.100.1")
    with engine.begin() as conn:
        store.add(conn, "ada@example.org", "Ada King Lovelace", "confirmed", consent, NOW,
                  ["weekly", "llm"])
        store.add(conn, "formula@example.org", "=HYPERLINK(1)", "confirmed", consent, NOW)
        store.add(conn, "waiting@example.org", "", "pending", consent, NOW)
        gone, _ = store.add(conn, "gone@example.org", "", "confirmed", consent, NOW)
        store.unsubscribe(conn, gone.id, NOW)
    engine.dispose()
    return config


@pytest.mark.parametrize("tool", sorted(HEADERS))
def test_an_export_for_another_tool_has_its_columns_and_only_readers_who_read(
        tmp_path: Path, tool: str) -> None:
    config = seeded(tmp_path / "here")
    done = cli(config, "export", "--format", tool)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == HEADERS[tool]
    rows = list(csv.reader(io.StringIO(done.stdout)))[1:]
    assert sorted(row[0] for row in rows) == ["ada@example.org", "formula@example.org"]
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)

    exported = tmp_path / f"{tool}.csv"
    exported.write_text(done.stdout, encoding="utf-8")
    elsewhere = site_config(tmp_path / "elsewhere")
    back = publisher_import(elsewhere, str(exported))
    assert back.returncode == 0, back.stderr
    assert f": {LABELS[tool]}: pending 0, confirmed 2," in back.stdout
    engine = open_database(url_of(elsewhere))
    with engine.connect() as conn:
        ada = conn.execute(sa.select(subscriber_table)
                           .where(subscriber_table.c.email == "ada@example.org")).one()
    engine.dispose()
    tags = [] if tool == "substack" else ["llm", "weekly"]  # Substack's list has no tags
    assert (ada.status, ada.tags, ada.name) == ("confirmed", tags, "Ada King Lovelace")
    assert ada.consent_at == datetime(2023, 2, 3, 4, 5, 6, tzinfo=UTC)


def test_an_export_for_another_tool_writes_the_status_asked_for(tmp_path: Path) -> None:
    config = seeded(tmp_path)
    done = cli(config, "export", "--format", "listmonk", "--status", "unsubscribed")
    assert done.returncode == 0, done.stderr
    assert [row[0] for row in csv.reader(io.StringIO(done.stdout))][1:] == ["gone@example.org"]
