"""Operators' views of the subscriber store, on SQLite and PostgreSQL: search, one person's
record, and daily activity rebuilt from the event log over several days."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy.engine import Engine

from publisher.subscribers import activity, store
from publisher.subscribers.activity import DayActivity
from publisher.subscribers.addresses import normalise_address
from publisher.subscribers.store import Consent
from tests.sending.helpers import insert_confirmed


def at(day: int, hour: int = 10, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2024, 6, day, hour, minute, second, tzinfo=UTC)


def subscriber_id(engine: Engine, email: str) -> int:
    with engine.connect() as conn:
        found = store.find(conn, normalise_address(email))
    assert found is not None
    return found.id


def seed_a_week(engine: Engine) -> None:
    """Two confirmed subscribers loaded without events, then five days of comings and
    goings through the store, each change logged with its event."""
    insert_confirmed(engine, 2)
    with engine.begin() as conn:
        for name in "abc":
            store.add(conn, f"{name}@example.org", name, store.CONFIRMED,
                      Consent("import", at(3)), at(3))
        for name in "pq":
            store.add(conn, f"{name}@example.org", name, store.PENDING,
                      Consent("form", at(3)), at(3))
    ids = {name: subscriber_id(engine, f"{name}@example.org") for name in "abcpq"}
    with engine.begin() as conn:
        store.confirm(conn, ids["p"], at(4))
        store.confirm(conn, ids["q"], at(4))
        store.unsubscribe(conn, ids["a"], at(4, 18))
        store.erase(conn, normalise_address("q@example.org"), at(5, 12))
        store.mark_bounced(conn, ids["b"], at(6, 0, 0, 0))
        store.mark_complained(conn, ids["c"], at(6, 23, 59, 59))
        store.unsubscribe(conn, ids["p"], at(7, 0, 0, 0))  # the day after the window


def test_daily_activity_counts_each_day_and_the_confirmed_total_at_its_end(
        engine: Engine) -> None:
    seed_a_week(engine)
    assert activity.daily_activity(engine, 5, date(2024, 6, 6)) == [
        DayActivity(date(2024, 6, 2), 0, 0, 0, 0, total_confirmed=2),
        DayActivity(date(2024, 6, 3), 3, 0, 0, 0, total_confirmed=5),
        DayActivity(date(2024, 6, 4), 2, 1, 0, 0, total_confirmed=6),
        DayActivity(date(2024, 6, 5), 0, 0, 0, 0, total_confirmed=5),  # q erased
        DayActivity(date(2024, 6, 6), 0, 0, 1, 1, total_confirmed=3),
    ]
    today = activity.daily_activity(engine, 2, date(2024, 6, 8))
    assert [(d.day, d.unsubscribed, d.total_confirmed) for d in today] == [
        (date(2024, 6, 7), 1, 2), (date(2024, 6, 8), 0, 2)]
    assert store.stats(engine)[store.CONFIRMED] == 2


def test_totals_count_statuses_and_bounce_and_complaint_events(engine: Engine) -> None:
    seed_a_week(engine)
    assert activity.totals(engine) == {
        "pending": 0, "confirmed": 2, "unsubscribed": 2, "bounced": 1, "complained": 1,
        "bounce_events": 1, "complaint_events": 1}


def test_search_matches_part_of_an_address_in_any_case_and_pages_by_id(
        engine: Engine) -> None:
    seed_a_week(engine)
    found = activity.search(engine, "EXAMPLE.ORG")
    assert [row.email for row in found] == ["a@example.org", "b@example.org",
                                            "c@example.org", "p@example.org"]
    page = activity.search(engine, "example.org", after_id=found[1].id, limit=1)
    assert [row.email for row in page] == ["c@example.org"]
    assert [row.email for row in activity.search(engine, status="bounced")] == ["b@example.org"]
    assert activity.search(engine, "%") == []  # the text is matched as it is


def test_a_persons_record_has_consent_bounces_and_every_event_oldest_first(
        engine: Engine) -> None:
    seed_a_week(engine)
    found = activity.person(engine, subscriber_id(engine, "p@example.org"))
    assert found is not None
    assert found.subscriber.status == store.UNSUBSCRIBED
    assert (found.consent.source, found.consent.at) == ("form", at(3))
    assert [(e.event, e.from_status, e.to_status, e.at) for e in found.events] == [
        ("created", None, "pending", at(3)),
        ("confirmed", "pending", "confirmed", at(4)),
        ("unsubscribed", "confirmed", "unsubscribed", at(7, 0)),
    ]
    assert found.events[-1].detail == {"via": "link"}
    assert activity.person(engine, 10_000) is None
