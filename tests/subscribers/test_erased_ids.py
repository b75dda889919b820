"""An erased reader's id is never given to anyone else (SQLite and PostgreSQL, and a SQLite
database made before migration 7), and an erased reader's old links change nobody and name
nobody: they answer "no longer on the list"."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from publisher.db import MIGRATIONS, make_engine, metadata, schema_version, upgrade
from publisher.mail.rendered import RenderedEmail
from publisher.sending import outbox, reports, returned_mail
from publisher.sending.erasure import erase_person
from publisher.subscribers import activity, store
from publisher.subscribers.addresses import normalise_address
from publisher.subscribers.store import Consent
from publisher.tokens import (
    Purpose,
    Reader,
    TokenSigner,
    preferences_token,
    reader_from,
    unsubscribe_token,
)
from tests import web_client
from tests.sending.helpers import SECRETS
from tests.subscribers.test_web_flows import Site, site  # noqa: F401 - the fixture

NOW = datetime(2026, 1, 1, tzinfo=UTC)
SIGNER = TokenSigner(SECRETS.secret_keys)
GONE = "不会再收到任何邮件"  # "no more email": the page of someone no longer on the list


def added(conn: sa.Connection, email: str, tags: tuple[str, ...] = ()) -> store.Subscriber:
    return store.add(conn, email, email.split("@")[0].title(), store.CONFIRMED,
                     Consent("import", NOW), NOW, tags)[0]


def test_the_next_subscriber_never_gets_an_erased_readers_id_nor_her_history(
    engine: Engine,
) -> None:
    with engine.begin() as conn:
        added(conn, "first@example.org")
        alice = added(conn, "alice@example.org")  # the highest id, as SQLite reused it
    send_id = outbox.start_send(engine, "tag:x,2026:issue",
                                RenderedEmail("issue", "Issue", "en", "", ""), NOW)
    with engine.begin() as conn:
        erase_person(conn, normalise_address("alice@example.org"), NOW)
        bob = added(conn, "bob@example.org")
    assert bob.id > alice.id
    person = activity.person(engine, bob.id)  # what the console's page of Bob shows
    assert person is not None and [e.event for e in person.events] == ["created"]
    assert reports.subscriber_deliveries(engine, bob.id) == []
    assert len(reports.subscriber_deliveries(engine, alice.id)) == 1, send_id


def older_sqlite_database(path: Path) -> Engine:
    """A SQLite database as publisher made it before migration 7 (no AUTOINCREMENT)."""
    engine = make_engine(f"sqlite:///{path}")
    before = sa.MetaData()
    for table in metadata.sorted_tables:
        table.to_metadata(before)
    before.tables["subscribers"].dialect_options["sqlite"]["autoincrement"] = False
    with engine.begin() as conn:
        before.create_all(conn)
        conn.execute(schema_version.insert(),
                     [{"version": v, "applied_at": NOW} for v in range(1, 7)])
    return engine


def test_upgrading_an_older_sqlite_database_keeps_its_readers_and_stops_reusing_ids(
    tmp_path: Path,
) -> None:
    engine = older_sqlite_database(tmp_path / "old.db")
    with engine.begin() as conn:
        carol = added(conn, "carol@example.org", ("llm",))
        alice = added(conn, "alice@example.org")
        erase_person(conn, normalise_address("alice@example.org"), NOW)
        bob = added(conn, "bob@example.org")  # the old schema: Alice's id again
    assert bob.id == alice.id
    carol_token = unsubscribe_token(SIGNER, carol.id, carol.email)

    assert upgrade(engine) == list(range(7, MIGRATIONS[-1][0] + 1))  # 7 and every later one
    with engine.begin() as conn:
        dave = added(conn, "dave@example.org")
        erase_person(conn, normalise_address("dave@example.org"), NOW)
        eve = added(conn, "eve@example.org")
        again = added(conn, "CAROL@example.org", ("agents",))
        assert eve.id > dave.id > bob.id
        assert again.id == carol.id and store.get(conn, carol.id) == again
        assert again.tags == ["agents", "llm"]
        # Alice's old links: an id-only one names an id someone was erased from; a bound
        # one names her address, not Bob's; Bob's own and Carol's still work
        assert store.token_holder(conn, Reader(bob.id, None)) is None
        alices = reader_from(SIGNER, Purpose.UNSUBSCRIBE,
                             unsubscribe_token(SIGNER, alice.id, alice.email))
        assert store.token_holder(conn, alices) is None
        bobs = reader_from(SIGNER, Purpose.UNSUBSCRIBE,
                           unsubscribe_token(SIGNER, bob.id, bob.email))
        assert store.token_holder(conn, bobs) == store.get(conn, bob.id)
        carols = reader_from(SIGNER, Purpose.UNSUBSCRIBE, carol_token)
        assert store.token_holder(conn, carols) == again
        assert store.token_holder(conn, Reader(carol.id, None)) == again
    with engine.connect() as conn:
        create = conn.execute(sa.text("SELECT sql FROM sqlite_master "
                                      "WHERE name = 'subscribers'")).scalar_one()
        indexes = {i["name"] for i in sa.inspect(conn).get_indexes("subscribers")}
    assert "AUTOINCREMENT" in create and "ix_subscribers_status" in indexes
    assert store.stats(engine)["confirmed"] == 3  # Carol, Bob, Eve
    with engine.begin() as conn, pytest.raises(sa.exc.IntegrityError):
        conn.execute(sa.text("INSERT INTO subscribers (email, email_key, name, status, tags, "
                             "created_at, updated_at, bounce_count) SELECT 'x', email_key, "
                             "'', status, tags, created_at, updated_at, 0 FROM subscribers "
                             "WHERE id = :id"), {"id": carol.id})
    engine.dispose()


def test_an_erased_readers_old_links_change_nobody_and_name_nobody(
    site: Site,  # noqa: F811
) -> None:
    with site.engine.begin() as conn:
        alice = added(conn, "alice@example.org")
    leave = unsubscribe_token(SIGNER, alice.id, alice.email)
    choose = preferences_token(SIGNER, alice.id, alice.email)
    old_leave = SIGNER.sign(Purpose.UNSUBSCRIBE, {"id": alice.id})  # made before migration 7
    with site.engine.begin() as conn:
        erase_person(conn, normalise_address("alice@example.org"), NOW)
        bob = added(conn, "bob@example.org", ("llm",))
    # were Bob given Alice's id (as SQLite did), her links would still not be his:
    borrowed = unsubscribe_token(SIGNER, bob.id, alice.email)
    borrowed_choice = preferences_token(SIGNER, bob.id, alice.email)
    with site.engine.connect() as conn:
        before = store.events(conn, bob.id)

    for link in (f"/unsubscribe/{leave}", f"/unsubscribe/{borrowed}",
                 f"/unsubscribe/{old_leave}", f"/preferences/{choose}",
                 f"/preferences/{borrowed_choice}"):
        shown = web_client.get(site.url + link)
        assert shown.status_code == 200 and GONE in shown.text, link
        assert "bob" not in shown.text.lower() and "alice" not in shown.text.lower(), link
        one_click = site.post(link, {"List-Unsubscribe": "One-Click"})
        assert one_click.status_code == 200 and GONE in one_click.text, link
        chose = site.post(link, {"action": "save", "topics": "agents"})
        assert chose.status_code == 200 and GONE in chose.text, link
        left = site.post(link, {"action": "unsubscribe"})
        assert left.status_code == 200 and "bob" not in left.text.lower(), link
    with site.engine.begin() as conn:
        assert returned_mail.apply_unsubscribe(conn, borrowed, SIGNER, NOW)  # the mailto way
        assert store.events(conn, bob.id) == before
        now = store.get(conn, bob.id)
    assert now is not None and (now.status, now.tags) == (store.CONFIRMED, ["llm"])
    own = unsubscribe_token(SIGNER, bob.id, bob.email)  # Bob's own link still works
    assert site.post(f"/unsubscribe/{own}", {"List-Unsubscribe": "One-Click"}).status_code == 200
    assert site.status("bob@example.org") == store.UNSUBSCRIBED
