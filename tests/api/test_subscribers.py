"""/api/v1/subscribers against the running server, on SQLite and PostgreSQL: a reader
created with consent is confirmed with no mail and has the consent event; one created
without it gets the confirmation mail once, and a known address answers the same; get,
list with cursors and filters, update, unsubscribe (webhooks hear `via: api`) and erase."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from email import message_from_bytes, policy

import httpx
import sqlalchemy as sa

from publisher import events
from publisher.db import subscriber_events, subscriber_table, suppressions, webhook_events
from publisher.subscribers import store
from publisher.subscribers.addresses import normalise_address
from tests.api.conftest import Api
from tests.sending.helpers import wait_until
from tests.subscribers.helpers import one_offs_settled
from tests.timing import gap_and_bound_ms, timed_in_pairs

CONSENT = {"at": "2026-03-01T09:30:00+01:00", "source": "shop checkout", "ip": "192.0.2.7"}


def created(client: httpx.Client, **body: object) -> httpx.Response:
    answer = client.post("/subscribers", json=body)
    assert answer.status_code == 202, answer.text
    return answer


def found(api: Api, email: str) -> store.Subscriber:
    with api.engine.connect() as conn:
        subscriber = store.find(conn, normalise_address(email))
    assert subscriber is not None
    return subscriber


def test_a_reader_created_with_consent_is_confirmed_with_no_mail_and_has_the_consent_event(
    api: Api
) -> None:
    with api.client(api.token()) as client:
        answer = created(client, email="Ada@Example.org", name="Ada", consent=CONSENT,
                         topics=["llm"], timezone="Europe/Paris")
    assert answer.json() == {"email": "Ada@example.org", "requested": "confirmed"}
    reader = found(api, "ada@example.org")
    assert reader.status == store.CONFIRMED and reader.timezone == "Europe/Paris"
    with api.engine.connect() as conn:
        row = conn.execute(sa.select(subscriber_table)).one()
        event = conn.execute(sa.select(subscriber_events.c.event, subscriber_events.c.detail)
                             .order_by(subscriber_events.c.id)).first()
    assert (row.consent_source, row.consent_ip) == ("shop checkout", "192.0.2.7")
    assert row.consent_at.isoformat() == "2026-03-01T08:30:00+00:00"
    assert event is not None and event.event == "created"
    assert event.detail == {"source": "shop checkout", "consent_at": "2026-03-01T09:30:00+01:00",
                            "consent_ip": "192.0.2.7", "via": "api:tests"}
    time.sleep(0.5)  # a mail would have been written and sent by now
    assert api.catcher.messages() == []
    assert row.confirmation_sent_at is None


def test_a_reader_created_without_consent_gets_the_confirmation_mail_once(api: Api) -> None:
    with api.client(api.token()) as client:
        first = created(client, email="reader@example.org", name="Reader")
        again = created(client, email="reader@example.org", name="Reader")
        known = created(client, email="known@example.org", consent=CONSENT)
        known_again = created(client, email="known@example.org")
    assert first.json() == again.json() == {"email": "reader@example.org",
                                            "requested": "pending"}
    assert known_again.json() == {"email": "known@example.org", "requested": "pending"}
    assert known.status_code == known_again.status_code == first.status_code
    wait_until(lambda: one_offs_settled(api.engine), 30)
    mails = [message_from_bytes(raw, policy=policy.default) for raw in api.catcher.messages()]
    assert [m["To"] for m in mails] == ["Reader <reader@example.org>"]
    assert "/confirm/" in mails[0].as_string()
    assert found(api, "reader@example.org").status == store.PENDING
    assert found(api, "known@example.org").status == store.CONFIRMED


def test_get_by_id_and_by_address_and_list_with_cursors_and_filters(api: Api) -> None:
    with api.client(api.token()) as client:
        for n in range(7):
            created(client, email=f"r{n}@example.org", consent=CONSENT)
        client.patch(f"/subscribers/{found(api, 'r3@example.org').id}",
                     json={"tags": ["vip", "vip_old"]})
        client.patch(f"/subscribers/{found(api, 'r5@example.org').id}", json={"tags": ["vipx"]})
        one = client.get(f"/subscribers/{found(api, 'r2@example.org').id}")
        by_address = client.get("/subscribers", params={"email": "R2@example.org"})
        pages, cursor = [], None
        while True:
            params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
            page = client.get("/subscribers", params=params).json()
            pages.append([item["email"] for item in page["items"]])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        tagged = client.get("/subscribers", params={"tag": "vip"}).json()["items"]
        since = client.get("/subscribers", params={"changed_since": "2099-01-01T00:00:00Z"})
        bad_cursor = client.get("/subscribers", params={"cursor": "bm90IG91cnM"})
        naive = client.get("/subscribers", params={"changed_since": "2026-01-01T00:00:00"})
        missing = client.get("/subscribers/999999")
    assert one.status_code == 200 and one.json()["email"] == "r2@example.org"
    assert [item["email"] for item in by_address.json()["items"]] == ["r2@example.org"]
    assert pages == [[f"r{n}@example.org" for n in range(k, min(k + 3, 7))]
                     for k in (0, 3, 6)]
    assert [item["email"] for item in tagged] == ["r3@example.org"]
    assert since.json() == {"items": [], "next_cursor": None}
    assert bad_cursor.status_code == 422 and bad_cursor.json()["errors"][0]["field"] == "cursor"
    assert naive.status_code == 422
    assert naive.json()["errors"][0]["field"] == "changed_since"
    assert missing.status_code == 404


def test_update_checks_topics_and_zones_as_the_preferences_page_does(api: Api) -> None:
    with api.client(api.token()) as client:
        created(client, email="p@example.org", consent=CONSENT)
        path = f"/subscribers/{found(api, 'p@example.org').id}"
        changed = client.patch(path, json={"name": "Pat", "tags": ["imported"],
                                           "topics": ["llm"], "timezone": "Asia/Tokyo"})
        cleared = client.patch(path, json={"timezone": None})
        refusals = {field: client.patch(path, json=body) for field, body in {
            "topics": {"topics": ["not-a-topic"]}, "timezone": {"timezone": "Mars/Olympus"},
            "name": {"name": "visit https://spam.example"}, "tags": {"tags": ["two words"]},
            "colour": {"colour": "blue"}}.items()}
        not_json = client.patch(path, content=b"{", headers={"content-type": "application/json"})
    body = changed.json()
    assert changed.status_code == 200, changed.text
    assert (body["name"], body["tags"], body["topics"], body["timezone"]) == (
        "Pat", ["imported", "llm"], ["llm"], "Asia/Tokyo")
    assert cleared.json()["timezone"] is None and cleared.json()["tags"] == ["imported", "llm"]
    for field, refused in refusals.items():
        assert refused.status_code == 422, (field, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
        assert [e["field"] for e in refused.json()["errors"]] == [field]
    assert not_json.status_code == 422 and not_json.json()["errors"][0]["field"] == "body"
    with api.engine.connect() as conn:
        kinds = conn.execute(sa.select(subscriber_events.c.event)
                             .order_by(subscriber_events.c.id)).scalars().all()
    assert kinds == ["created", "name_changed", "tags_changed", "topics_changed",
                     "timezone_changed", "timezone_changed"]


def test_create_refuses_a_bad_address_naming_the_field(api: Api) -> None:
    with api.client(api.token()) as client:
        answers = [client.post("/subscribers", json=body) for body in (
            {"email": "not an address"}, {"email": "a@example.org", "consent": {"at": "x"}},
            {"email": "a@example.org", "consent": {**CONSENT, "at": "2026-03-01T09:30:00"}},
            {}, {"email": "a@example.org", "topics": ["nope"]})]
    assert [a.status_code for a in answers] == [422] * 5
    assert [a.json()["errors"][0]["field"] for a in answers] == [
        "email", "consent.at", "consent.at", "email", "topics"]


def test_unsubscribe_reports_via_api_to_webhooks_and_erase_does_what_the_cli_does(
    api: Api
) -> None:
    with api.engine.begin() as conn:
        events.sync_endpoints(conn, [("http://127.0.0.1:9/hook", [events.UNSUBSCRIBED,
                                                                   events.ERASED])])
    with api.client(api.token()) as client:
        created(client, email="leaver@example.org", consent=CONSENT)
        reader = found(api, "leaver@example.org")
        left = client.post(f"/subscribers/{reader.id}/unsubscribe")
        with api.engine.connect() as conn:
            reported = conn.execute(sa.select(webhook_events.c.data)).scalar_one()
        erased = client.delete(f"/subscribers/{reader.id}")
        gone = client.get(f"/subscribers/{reader.id}")
        erased_again = client.delete(f"/subscribers/{reader.id}")
        refused = client.post("/subscribers", json={"email": "leaver@example.org",
                                                    "consent": CONSENT})
    assert left.status_code == 200 and left.json()["status"] == "unsubscribed"
    assert erased.status_code == 204 and erased.content == b""
    assert gone.status_code == erased_again.status_code == 404
    assert refused.status_code == 202  # the same answer; the address stays suppressed
    with api.engine.connect() as conn:
        hooks = conn.execute(sa.select(webhook_events.c.type, webhook_events.c.data)
                             .order_by(webhook_events.c.id)).all()
        kept = conn.execute(sa.select(suppressions.c.reason)).scalars().all()
        subscribers = conn.execute(sa.select(subscriber_table.c.id)).all()
    assert [h.type for h in hooks] == [events.UNSUBSCRIBED, events.ERASED]
    assert reported["via"] == "api" and reported["subscriber"]["status"] == "unsubscribed"
    assert hooks[1].data == {"subscriber": {"id": reader.id}}
    assert kept == ["erased"] and subscribers == []


def test_creating_a_known_or_an_unknown_address_takes_the_same_time(
    api: Api, report_figure: Callable[[str], None]
) -> None:
    rounds = 15
    with api.client(api.token()) as client:
        for n in range(rounds + 2):
            created(client, email=f"known{n}@example.org", consent=CONSENT)

        def create(kind: str) -> Callable[[int], float]:
            def timed(n: int) -> float:
                started = time.perf_counter()
                created(client, email=f"{kind}{n}@example.org")
                return time.perf_counter() - started
            return timed

        known_s, unknown_s = timed_in_pairs(rounds, create("known"), create("unknown"))
    known, unknown = (statistics.median(s) * 1000 for s in (known_s, unknown_s))
    gap, bound = gap_and_bound_ms(known_s, unknown_s, floor_ms=10.0)
    report_figure(f"POST /api/v1/subscribers ({api.engine.dialect.name}) median over {rounds}: "
                  f"known address {known:.1f} ms, unknown {unknown:.1f} ms")
    assert abs(gap) < bound, (known, unknown, gap)


def test_a_readers_language_is_set_on_create_and_update_and_refused_outside_the_sites(
        api: Api) -> None:
    with api.client(api.token()) as client:
        created(client, email="en@example.org", language="en")
        created(client, email="site@example.org", consent=CONSENT, language="EN")
        refused = client.post("/subscribers", json={"email": "fr@example.org", "language": "fr"})
        reader_id = found(api, "site@example.org").id
        shown = client.get(f"/subscribers/{reader_id}").json()
        cleared = client.patch(f"/subscribers/{reader_id}", json={"language": None}).json()
        back = client.patch(f"/subscribers/{reader_id}", json={"language": "zh-cn"}).json()
        wrong = client.patch(f"/subscribers/{reader_id}", json={"language": "de"})
    assert found(api, "en@example.org").language == "en"  # the form's pending reader
    assert (shown["language"], cleared["language"], back["language"]) == ("en", None, "zh-CN")
    for answer in (refused, wrong):
        assert answer.status_code == 422
        assert [error["field"] for error in answer.json()["errors"]] == ["language"]
    wait_until(lambda: one_offs_settled(api.engine), 30)
    mails = [message_from_bytes(raw, policy=policy.default) for raw in api.catcher.messages()]
    assert [(m["To"], m["Content-Language"]) for m in mails] == [("en@example.org", "en")]
