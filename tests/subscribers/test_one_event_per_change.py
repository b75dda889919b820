"""Each change a reader makes over real HTTP is one row of the subscriber event log."""

from __future__ import annotations

import re

import sqlalchemy as sa

from publisher import urls
from publisher.db import subscriber_events
from publisher.subscribers import store
from publisher.subscribers.addresses import normalise_address
from publisher.tokens import TokenSigner, unsubscribe_token
from tests import web_client
from tests.sending.helpers import SECRETS
from tests.subscribers.test_web_flows import Site, confirm_link, site  # noqa: F401 - the fixture

Event = tuple[str, str | None, str | None]


def all_events(web: Site) -> list[tuple[int, Event]]:
    """Every row of the event log, in order: (subscriber id, (event, from, to))."""
    with web.engine.connect() as conn:
        rows = conn.execute(sa.select(subscriber_events.c.subscriber_id,
                                      subscriber_events.c.event, subscriber_events.c.from_status,
                                      subscriber_events.c.to_status)
                            .order_by(subscriber_events.c.id)).all()
    return [(int(i), (str(e), f, t)) for i, e, f, t in rows]


def new_rows(web: Site, before: list[tuple[int, Event]]) -> list[tuple[int, Event]]:
    """The rows added since `before` was read."""
    after = all_events(web)
    assert after[:len(before)] == before, "the log only grows"
    return after[len(before):]


def test_subscribe_confirm_and_one_click_unsubscribe_each_leave_one_event_row(
    site: Site,  # noqa: F811
) -> None:
    with web_client.Client(base_url=site.url, follow_redirects=False) as browser:
        form = browser.get("/subscribe")
        found = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert form.status_code == 200 and found
        before = all_events(site)
        subscribed = browser.post("/subscribe", data={
            "email": "Events@Example.org", "name": "Eve", "csrf": found.group(1)})
        assert (subscribed.status_code, subscribed.headers["location"]) == (303,
                                                                            "/subscribe/sent")
    with site.engine.connect() as conn:
        subscriber = store.find(conn, normalise_address("events@example.org"))
    assert subscriber is not None and subscriber.status == store.PENDING
    me = subscriber.id
    # The status change, and the claim of the one confirmation mail that went out.
    assert new_rows(site, before) == [(me, ("created", None, "pending")),
                                      (me, ("confirmation_sent", None, None))]
    (mail,) = site.mails()

    before = all_events(site)
    confirmed = web_client.post(confirm_link(mail), follow_redirects=False)
    assert confirmed.status_code == 303
    assert new_rows(site, before) == [(me, ("confirmed", "pending", "confirmed"))]

    before = all_events(site)
    url = urls.unsubscribe_url(site.url, unsubscribe_token(TokenSigner(SECRETS.secret_keys), me,
                                                       "events@example.org"))
    one_click = web_client.post(url, data={"List-Unsubscribe": "One-Click"}, follow_redirects=False)
    assert one_click.status_code == 200
    assert new_rows(site, before) == [(me, ("unsubscribed", "confirmed", "unsubscribed"))]
    assert site.status("events@example.org") == store.UNSUBSCRIBED
