"""Coming back after leaving, over real HTTP with a real SMTP catcher and the real CLI: only
the person's own request brings them back, and it always gets its own confirmation mail."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Connection, Engine

from publisher.config import Config
from publisher.db import subscriber_table
from publisher.subscribers import store
from publisher.subscribers.addresses import normalise_address
from publisher.web.subscribe import RESEND_AFTER
from tests import web_client
from tests.sending.helpers import write_config_file
from tests.subscribers import test_web_flows as web_flows
from tests.subscribers.helpers import cli

NOW = datetime(2026, 1, 1, tzinfo=UTC)
T0 = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
Mark = Callable[[Connection, int, datetime, dict[str, Any] | None], store.Subscriber | None]


@dataclass
class Site(web_flows.Site):
    """The web-flow site, plus a config file for the command line on its database."""

    cli_config: Path

    def confirmations(self, email: str) -> list[EmailMessage]:
        return [m for m in self.mails()
                if m["To"].addresses[0].addr_spec == email and not m["List-Id"]]

    def subscribe(self, email: str, name: str = "", **headers: str) -> None:
        response = self.post("/subscribe", {"email": email, "name": name}, **headers)
        assert response.status_code == 303, response.text[:500]

    def confirm(self, mail: EmailMessage) -> None:
        assert web_client.post(web_flows.confirm_link(mail)).status_code == 303


@pytest.fixture
def site(seed_config: Config, tmp_path: Path) -> Iterator[Site]:
    with web_flows.served(seed_config, tmp_path) as running:
        cli_config = write_config_file(tmp_path / "cli", running.catcher.port,
                                       running.config.database_url)
        yield Site(**vars(running), cli_config=cli_config)


# (6) the resend window counts per pending episode

def test_resubscribing_soon_after_leaving_sends_a_new_confirmation_mail(site: Site) -> None:
    site.subscribe("back@example.org")
    (first,) = site.confirmations("back@example.org")
    site.confirm(first)
    assert site.status("back@example.org") == "confirmed"
    removed = cli(site.cli_config, "remove", "back@example.org")
    assert removed.returncode == 0, removed.stderr
    assert site.status("back@example.org") == "unsubscribed"

    site.subscribe("back@example.org")  # within RESEND_AFTER of the first mail
    assert site.status("back@example.org") == "pending"
    _, second = site.confirmations("back@example.org")
    site.subscribe("back@example.org")  # the same pending episode: the window holds
    assert len(site.confirmations("back@example.org")) == 2
    site.confirm(second)
    assert site.status("back@example.org") == "confirmed"


@pytest.mark.parametrize("mark", [store.mark_bounced, store.mark_complained])
def test_a_bounced_or_complaining_reader_can_subscribe_again_and_must_confirm(
    site: Site, mark: Mark,
) -> None:
    site.subscribe("again@example.org")
    site.confirm(site.confirmations("again@example.org")[0])
    with site.engine.begin() as conn:
        found = store.find(conn, normalise_address("again@example.org"))
        assert found is not None
        mark(conn, found.id, datetime.now(UTC), {"test": True})
    site.subscribe("again@example.org")
    assert site.status("again@example.org") == "pending"
    assert len(site.confirmations("again@example.org")) == 2


def test_a_new_pending_episode_clears_the_previous_confirmation_time(engine: Engine) -> None:
    form = store.Consent("form", T0, "192.0.2.1", "Mozilla/5.0")
    with engine.begin() as conn:
        added, _ = store.add(conn, "x@example.org", "", store.PENDING, form, T0,
                                   own_request=True)
        conn.execute(subscriber_table.update().where(subscriber_table.c.id == added.id)
                     .values(confirmation_sent_at=T0))
        store.confirm(conn, added.id, T0)
        store.unsubscribe(conn, added.id, T0 + timedelta(minutes=1))
        soon = T0 + RESEND_AFTER / 2
        back, _ = store.add(conn, "x@example.org", "", store.PENDING,
                                  replace(form, at=soon), soon, own_request=True)
        history = store.events(conn, added.id)
    assert (back.status, back.confirmation_sent_at) == ("pending", None)
    assert history[-1] == ("resubscribed", "unsubscribed", "pending")


def test_an_add_that_is_not_the_persons_own_request_leaves_the_confirmation_time(
    engine: Engine,
) -> None:
    form = store.Consent("form", T0)
    with engine.begin() as conn:
        added, _ = store.add(conn, "y@example.org", "", store.PENDING, form, T0)
        store.unsubscribe(conn, added.id, T0)
        conn.execute(subscriber_table.update().where(subscriber_table.c.id == added.id)
                     .values(confirmation_sent_at=T0))
        same, created = store.add(conn, "y@example.org", "", store.CONFIRMED,
                                        form, T0)
        reason = store.departure(conn, added.id)
    assert not created and same.status == "unsubscribed" and same.confirmation_sent_at == T0
    assert reason == ("unsubscribed on 2024-06-01; not changed (they must subscribe again "
                      "themselves)")


# (5) what a form accepts cannot run as a formula in the export

def test_a_formula_submitted_through_the_form_is_neutralised_in_the_export(site: Site) -> None:
    site.subscribe("calc@example.org", "=cmd|' /C calc'!A0",
                   **{"User-Agent": "@SUM(1+1)*cmd|' /C calc'!A0"})
    site.subscribe("plus@example.org", "+1 555")
    exported = cli(site.cli_config, "export")
    assert exported.returncode == 0, exported.stderr
    rows = {row["email"]: row for row in csv.DictReader(io.StringIO(exported.stdout))}
    assert rows["calc@example.org"]["name"] == "'=cmd|' /C calc'!A0"
    assert rows["calc@example.org"]["consent_user_agent"] == "'@SUM(1+1)*cmd|' /C calc'!A0"
    assert rows["plus@example.org"]["name"] == "'+1 555"
