"""The subscriber store, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from publisher.db import MIGRATIONS, current_version
from publisher.errors import InvalidAddress
from publisher.subscribers import store
from publisher.subscribers.addresses import normalise_address
from publisher.subscribers.store import Consent

T0 = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
FORM = Consent("form", T0, "127.0.0.1", "Mozilla/5.0")


def test_migrations_are_applied_on_first_use(engine: Engine) -> None:
    with engine.connect() as conn:
        assert current_version(conn) == MIGRATIONS[-1][0]


def test_a_subscriber_goes_pending_confirmed_unsubscribed_with_an_event_each_time(
    engine: Engine,
) -> None:
    with engine.begin() as conn:
        added, created = store.add(conn, "Reader@Example.ORG", "Ré Ader",
                                         store.PENDING, FORM, T0, ["weekly"])
        store.confirm(conn, added.id, T0 + timedelta(minutes=5))
        store.unsubscribe(conn, added.id, T0 + timedelta(days=3), "one-click")
        store.unsubscribe(conn, added.id, T0 + timedelta(days=4), "one-click")
        final = store.get(conn, added.id)
        history = store.events(conn, added.id)
    assert created and added.email == "Reader@example.org" and added.name == "Ré Ader"
    assert final is not None and final.status == "unsubscribed" and final.tags == ["weekly"]
    assert history == [("created", None, "pending"), ("confirmed", "pending", "confirmed"),
                       ("unsubscribed", "confirmed", "unsubscribed")]


def test_the_same_address_in_another_case_is_the_same_subscriber(engine: Engine) -> None:
    with engine.begin() as conn:
        first, _ = store.add(conn, "a.b@example.org", "", store.CONFIRMED, FORM, T0)
        again, created = store.add(conn, "A.B@EXAMPLE.org", "New Name",
                                         store.PENDING, FORM, T0)
    assert not created and again.id == first.id
    assert again.status == "confirmed"  # a confirmed reader is not demoted by a new form post
    assert again.name == "New Name"


def test_internationalised_domains_are_stored_as_idna(engine: Engine) -> None:
    with engine.begin() as conn:
        added, _ = store.add(conn, "leser@Bücher.de", "", store.PENDING, FORM, T0)
    assert added.email == "leser@xn--bcher-kva.de"


def test_a_bounced_reader_who_subscribes_again_must_confirm_again(engine: Engine) -> None:
    with engine.begin() as conn:
        added, _ = store.add(conn, "x@example.org", "", store.CONFIRMED, FORM, T0)
        store.mark_bounced(conn, added.id, T0, {"dsn": "5.1.1"})
        again, _ = store.add(conn, "x@example.org", "", store.CONFIRMED, FORM, T0,
                                   own_request=True)  # the form: only the person may come back
    assert again.status == "pending"


def test_erase_keeps_only_a_hash_and_refuses_the_address_later(engine: Engine) -> None:
    with engine.begin() as conn:
        added, _ = store.add(conn, "gone@example.org", "Gone", store.CONFIRMED,
                                   FORM, T0)
        assert store.erase(conn, normalise_address("GONE@example.org"), T0)
        assert store.get(conn, added.id) is None
        assert store.events(conn, added.id)[-1] == ("erased", "confirmed", None)
    with engine.begin() as conn, pytest.raises(InvalidAddress, match="erased"):
        store.add(conn, "gone@example.org", "", store.PENDING, FORM, T0)
    assert store.stats(engine)["confirmed"] == 0


def test_a_rejected_address_leaves_the_store_untouched(engine: Engine) -> None:
    with engine.begin() as conn:
        store.add(conn, "ok@example.org", "", store.PENDING, FORM, T0)
    with engine.begin() as conn, pytest.raises(InvalidAddress):
        store.add(conn, "bad\r\nBcc: x@example.org", "", store.PENDING, FORM, T0)
    assert store.stats(engine) == {"pending": 1, "confirmed": 0, "unsubscribed": 0,
                                         "bounced": 0, "complained": 0}


def test_migrations_are_numbered_one_after_another_in_the_order_they_run() -> None:
    """`upgrade` skips every migration numbered at or below the database's version, so one
    listed after a higher number would never run."""
    versions = [version for version, _description, _migrate in MIGRATIONS]
    assert versions == list(range(1, len(versions) + 1))
