"""Erasure leaves nothing that names the person; a token fetched by another site cannot
subscribe anyone; a signed unsubscribe link of an erased person is still a success."""

from __future__ import annotations

import mailbox
import re
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from publisher.db import bounce_reports, metadata
from publisher.mail.rendered import RenderedEmail
from publisher.sending import outbox, reports
from publisher.sending.erasure import erase_person
from publisher.sending.outbox import FAILED, Result
from publisher.subscribers import store
from publisher.subscribers.addresses import normalise_address
from publisher.subscribers.store import Consent
from publisher.tokens import TokenSigner, unsubscribe_token
from tests import web_client
from tests.sending.helpers import SECRETS
from tests.subscribers.helpers import cli, site_config, url_of
from tests.subscribers.test_web_flows import Site, site  # noqa: F401 - the fixture

NOW = datetime(2026, 1, 1, tzinfo=UTC)
PERSON, NAME = "Erase.Me@Example.net", "Erase Me 删除我"


def traces(engine: Engine) -> list[str]:
    """Every table.column whose value mentions the person's address or name."""
    found = []
    with engine.connect() as conn:
        for table in metadata.sorted_tables:
            for row in conn.execute(sa.select(table)).mappings():
                for column, value in row.items():
                    text = str(value).lower()
                    if "erase.me" in text or "erase me" in text or "删除我" in text:
                        found.append(f"{table.name}.{column}")
    return sorted(set(found))


def a_person_with_a_history(engine: Engine) -> None:
    with engine.begin() as conn:
        subscriber, _ = store.add(conn, PERSON, NAME, store.CONFIRMED,
                                        Consent("form", NOW, "192.0.2.7", "Browser/1.0 erase.me"),
                                        NOW)
        store.add(conn, "stays@example.net", "Stays", store.CONFIRMED,
                        Consent("import", NOW), NOW)
    send_id = outbox.start_send(engine, "tag:x,2026:issue",
                                RenderedEmail("issue", "Issue", "en", "", ""), NOW)
    claimed = outbox.claim_batch(engine, send_id, "host:1", NOW, 10)
    outbox.record_results(engine, [Result(d.id, FAILED, f"550 5.1.1 <{d.email}>: no such user",
                                          hard_bounce=True) for d in claimed], NOW, "host:1")
    with engine.begin() as conn:
        conn.execute(bounce_reports.insert().values(
            received_at=NOW, message_key="1.eml", kind="hard", status="5.1.1",
            recipient="erase.me@example.net", detail="550 erase.me", reason="unverified"))
    assert traces(engine), "the history names the person before erasure"


def test_erase_leaves_no_table_or_column_naming_the_person(engine: Engine) -> None:
    a_person_with_a_history(engine)
    bounces = reports.send_summary(engine, 1, NOW).bounces
    with engine.begin() as conn:
        assert erase_person(conn, normalise_address(PERSON), NOW)
    assert traces(engine) == []
    assert bounces == 2 and reports.send_summary(engine, 1, NOW).bounces == 2
    with engine.connect() as conn:
        assert store.find(conn, normalise_address("stays@example.net")) is not None
        assert store.is_suppressed(conn, normalise_address(PERSON))
    assert sum(outbox.counts(engine, 1).values()) == 2, "counts that name nobody stay"


def test_erase_from_the_command_line_also_deletes_the_returned_mail_copies(
    tmp_path: Path,
) -> None:
    config = site_config(tmp_path)
    assert cli(config, "add", PERSON, "--name", NAME, "--confirmed").returncode == 0
    (tmp_path / "var").mkdir(exist_ok=True)
    spool = mailbox.Maildir(str(tmp_path / "var" / "bounces"), create=True)
    for address in ("erase.me@example.net", "other@example.net"):
        spool.add(f"From: MAILER-DAEMON@x\r\nSubject: failed\r\n\r\n550 5.1.1 <{address}>\r\n")
    done = cli(config, "erase", PERSON)
    assert done.returncode == 0, done.stderr
    assert "deleted 1 returned message(s)" in done.stdout
    left = [m.as_bytes() for m in mailbox.Maildir(str(tmp_path / "var" / "bounces")).values()]
    assert len(left) == 1 and b"other@example.net" in left[0]
    assert traces(sa.create_engine(url_of(config))) == []


def test_a_token_fetched_by_another_site_cannot_subscribe_anyone(site: Site) -> None:  # noqa: F811
    attacker = web_client.get(site.url + "/subscribe")  # the attacker's server fetches a form
    token = re.search(r'name="csrf" value="([^"]+)"', attacker.text)
    assert token
    forged = {"email": "victim@example.org", "csrf": token.group(1)}
    for headers in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}, {}):
        response = web_client.post(site.url + "/subscribe", data=forged, headers=headers)
        assert response.status_code == 403, headers
    with web_client.Client(base_url=site.url) as browser:  # the real reader's own browser
        token = re.search(r'name="csrf" value="([^"]+)"', browser.get("/subscribe").text)
        assert token
        cookie = browser.cookies.get("publisher_csrf")
        assert cookie and "httponly" in browser.get("/subscribe").headers["set-cookie"].lower()
        foreign = browser.post("/subscribe", data={"email": "reader@example.org",
                                                   "csrf": token.group(1)},
                               headers={"Origin": "https://evil.example"})
        assert foreign.status_code == 403, "a foreign Origin is refused whatever the token"
        own = browser.post("/subscribe", data={"email": "reader@example.org",
                                               "csrf": token.group(1)})
    assert own.status_code == 303
    assert site.status("victim@example.org") is None
    assert site.status("reader@example.org") == "pending"
    plain = site.post("/subscribe", {"email": "archive@example.org"})  # the archive's form
    assert plain.status_code == 303 and site.status("archive@example.org") == "pending"


def test_one_click_unsubscribe_of_an_erased_person_is_a_success_that_stores_nothing(
    site: Site,  # noqa: F811
) -> None:
    with site.engine.begin() as conn:
        subscriber, _ = store.add(conn, "gone@example.org", "", store.CONFIRMED,
                                        Consent("import", NOW), NOW)
        erase_person(conn, normalise_address("gone@example.org"), NOW)
    token = unsubscribe_token(TokenSigner(SECRETS.secret_keys), subscriber.id,
                              subscriber.email)
    before = traces_count(site.engine)
    one_click = web_client.post(f"{site.url}/unsubscribe/{token}",
                                data={"List-Unsubscribe": "One-Click"})
    page = web_client.get(f"{site.url}/unsubscribe/{token}")
    assert one_click.status_code == 200 and page.status_code == 200
    assert "不会再收到任何邮件" in one_click.text
    assert traces_count(site.engine) == before, "nothing stored"
    forged = web_client.post(f"{site.url}/unsubscribe/{token[:-2]}xx",
                             data={"List-Unsubscribe": "One-Click"})
    assert forged.status_code == 400


def traces_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return sum(int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
                   for t in metadata.sorted_tables)
