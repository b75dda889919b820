"""A third language is only a catalog (issue 27): on a site of `languages = ["zh-CN", "de"]`
a reader who chooses German gets the German confirmation mail (through the outbox, into a
real SMTP catcher) and the German confirm, preferences and unsubscribe pages."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from publisher.config import Config
from publisher.tokens import TokenSigner, preferences_token, unsubscribe_token
from tests import web_client
from tests.sending.helpers import SECRETS
from tests.subscribers.test_reader_language_web import heading, language_select, stored
from tests.subscribers.test_web_flows import Site, confirm_link, served

CHINESE_AND_GERMAN = ["zh-CN", "de"]


@pytest.fixture
def with_german(seed_config: Config, tmp_path: Path) -> Iterator[Site]:
    """The seed site (zh-CN) publishing in German too, served with a mail catcher."""
    settings = seed_config.settings
    site = settings.site.model_copy(update={"languages": CHINESE_AND_GERMAN})
    config = replace(seed_config, settings=settings.model_copy(update={"site": site}))
    with served(config, tmp_path) as running:
        yield running


def test_a_german_browser_gets_the_form_in_german(with_german: Site) -> None:
    page = web_client.get(with_german.url + "/subscribe",
                          headers={"Accept-Language": "de-AT,de;q=0.9"}).text
    assert heading(page) == "Per E-Mail erhalten"
    assert language_select(page)[1] == "de"
    assert "Wir senden zuerst einen Bestätigungslink." in page
    assert "E-Mail-Adresse" in page and "Abonnieren" in page


def test_a_reader_who_chooses_german_gets_the_german_mail_and_pages(with_german: Site) -> None:
    asked = with_german.post("/subscribe", {"email": "leser@example.org", "language": "de"})
    assert asked.status_code == 303
    sent = web_client.get(with_german.url + asked.headers["location"]).text
    assert heading(sent) == "Sehen Sie in Ihr Postfach"
    (mail,) = with_german.mails()
    title = with_german.config.site.title
    assert mail["Subject"] == f"Bestätigen Sie Ihr Abonnement von {title}"
    assert mail["Content-Language"] == "de"
    body = mail.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert f"Jemand (hoffentlich Sie) möchte {title} an leser@example.org erhalten." in text
    assert "Bestätigen Sie mit diesem Link (7 Tage gültig):" in text and "请" not in text

    link = confirm_link(mail).removeprefix(with_german.url)
    confirm_page = web_client.get(with_german.url + link).text
    assert heading(confirm_page) == "Abonnement bestätigen"
    assert with_german.post(link, {}).status_code == 303
    confirmed = web_client.get(with_german.url + link).text
    assert heading(confirmed) == "Abonnement bestätigt"
    assert f"Danke. leser@example.org erhält die nächste Ausgabe von {title}." in confirmed

    reader = stored(with_german, "leser@example.org")
    assert reader.language == "de"
    signer = TokenSigner(SECRETS.secret_keys)
    preferences = f"/preferences/{preferences_token(signer, reader.id, reader.email)}"
    page = web_client.get(with_german.url + preferences).text
    assert heading(page) == "Abonnement-Einstellungen"
    assert "Status von leser@example.org: abonniert." in page
    assert "Themen und Zeitzone speichern" in page and "Abbestellen" in page
    assert language_select(page)[1] == "de"
    leave = f"/unsubscribe/{unsubscribe_token(signer, reader.id, reader.email)}"
    assert heading(web_client.get(with_german.url + leave).text) == "Abbestellen"
