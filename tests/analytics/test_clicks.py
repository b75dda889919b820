"""Aggregate link clicks end to end: the links of a real sent message go through `/l/`,
a click over real HTTP lands on the issue's URL and counts once, a bad token is the site's
404 page (never a redirect), and turning clicks on changes nothing in the email but the
links' targets."""

from __future__ import annotations

import html
from pathlib import Path

from itsdangerous import URLSafeSerializer

from publisher.analytics import figures
from publisher.config import Config
from publisher.tokens import Purpose, TokenSigner, link_token
from publisher.web.app import create_app
from publisher.web.state import WebState
from tests import web_client
from tests.analytics.clicks import CLICK_LINK, clicks_reach, html_of, sent, served, text_of
from tests.analytics.helpers import with_clicks, with_database
from tests.sending.helpers import SECRETS

BASE = "http://127.0.0.1:8000"


def test_a_click_on_a_sent_messages_link_lands_on_its_url_and_counts_once(
    seed_config: Config, database_url: str, tmp_path: Path,
) -> None:
    # A HEAD answers the same redirect and is no click; DNT changes nothing (nothing stored
    # names anyone).
    config = with_clicks(with_database(seed_config, database_url))
    engine, send_id, (message, *_) = sent(config, tmp_path / "Maildir")
    numbered = figures.send_links(engine, send_id)
    clicked = CLICK_LINK.findall(html_of(message))[0]
    state = WebState(config, SECRETS)
    with served(create_app(state)) as live, web_client.Client() as client:
        checked = client.head(live.url + clicked.removeprefix(BASE))  # a link checker
        assert checked.status_code == 302
        answer = client.get(live.url + clicked.removeprefix(BASE), headers={"DNT": "1"})
        assert answer.status_code == 302
        assert answer.headers["location"] in numbered.values()
        assert clicks_reach(engine, send_id, {answer.headers["location"]: (1, 0)}) == {
            answer.headers["location"]: (1, 0)}
    assert not answer.cookies and "set-cookie" not in answer.headers
    state.engine.dispose()


def test_a_bad_token_is_the_sites_404_page_and_never_a_redirect(
    seed_config: Config, tmp_path: Path,
) -> None:
    config = with_clicks(seed_config)
    engine, send_id, (message, *_) = sent(config, tmp_path / "Maildir", readers=1)
    token = CLICK_LINK.findall(html_of(message))[0].rsplit("/", 1)[1]
    payload, signature = token.split(".")
    signer = TokenSigner(SECRETS.secret_keys)
    other_key = TokenSigner(("another-site-key-0123456789",))
    forged_url = URLSafeSerializer(SECRETS.secret_keys[0], salt=Purpose.CLICK.value).dumps(
        "https://evil.example/")
    bad = [payload + "." + signature[:-2] + "xx",  # tampered signature
           link_token(other_key, send_id, 1),  # another key
           link_token(signer, send_id, 999),  # a link the send does not have
           link_token(signer, send_id + 1, 1),  # a send that does not exist
           forged_url,  # a URL, even under the right key and purpose, is not a link
           signer.sign(Purpose.UNSUBSCRIBE, {"id": 1, "a": "0" * 16}),  # another purpose
           "https://evil.example/", "%2F%2Fevil.example"]
    state = WebState(config, SECRETS)
    with served(create_app(state)) as live, web_client.Client() as client:
        for wrong in bad:
            answer = client.get(f"{live.url}/l/{wrong}")
            assert answer.status_code == 404, wrong
            assert "location" not in answer.headers
            assert "找不到这个页面" in answer.text  # the site's own 404 page, in its language
    assert clicks_reach(engine, send_id, {}, seconds=1.5) == {}
    state.engine.dispose()


def _with_original_links(text: str, targets: dict[str, str]) -> str:
    for counter, url in targets.items():
        text = text.replace(html.escape(counter), html.escape(url)) if "<" in text \
            else text.replace(counter, url)
    return text


def _spaced(markup: str) -> str:
    return " ".join(markup.split())


def test_with_clicks_on_the_email_differs_only_in_its_links_targets(
    seed_config: Config, tmp_path: Path,
) -> None:
    off_engine, _off, (off, *_) = sent(with_clicks(seed_config, on=False), tmp_path / "off",
                                       readers=1)
    on_config = with_clicks(seed_config)
    on_config = with_database(on_config, f"sqlite:///{tmp_path / 'on.db'}")
    engine, send_id, (on, *_) = sent(on_config, tmp_path / "on", readers=1)
    signer = TokenSigner(SECRETS.secret_keys)
    targets = {f"{BASE}/l/{link_token(signer, send_id, n)}": url
               for n, url in figures.send_links(engine, send_id).items()}
    assert targets and CLICK_LINK.search(html_of(on)) and not CLICK_LINK.search(html_of(off))
    # Long HTML lines are folded at a space for the wire; links of another length move the
    # folds, which are the same HTML: compare with whitespace runs as one space.
    assert _spaced(_with_original_links(html_of(on), targets)) == _spaced(html_of(off))
    assert _with_original_links(text_of(on), targets) == text_of(off)
    assert set(on.keys()) == set(off.keys())
    assert {k: str(on[k]) for k in on.keys()} == {k: str(off[k]) for k in off.keys()}
    assert all("mailto:" not in url and "/unsubscribe/" not in url for url in targets.values())
    off_engine.dispose()


def test_a_send_started_with_clicks_off_has_no_counted_links(
    seed_config: Config, tmp_path: Path,
) -> None:
    engine, send_id, (message, *_) = sent(with_clicks(seed_config, on=False),
                                          tmp_path / "Maildir", readers=1)
    assert figures.send_links(engine, send_id) == {}
    assert "/l/" not in html_of(message) + text_of(message)

