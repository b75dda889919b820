"""The links of a send's email, numbered, and the email with them pointing at the click
counter (pure).

Rules. A link is the target of an `<a href>` in an edition's HTML part that is an absolute
http(s) URL and not one of a reader's own pages on the site (unsubscribe, preferences,
confirm) nor a click link already; placeholders (the reader's unsubscribe and preferences
links) and `mailto:` are never links. Links are numbered 1, 2, … in order of first
appearance over the original and then each edition by language, so a URL shared by two
editions is one link. In the plain-text part, a URL (a run of non-space characters from
`http://` or `https://`) is pointed at the counter only when it is exactly a link of the
HTML part. Nothing here depends on the reader: the email stays the same for every reader.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from urllib.parse import urlsplit

from publisher.mail.rendered import RenderedEmail
from publisher.urls import READER_PREFIXES

_ANCHOR_HREF = re.compile(r'(<a\b[^>]*?\bhref=")([^"]*)(")', re.IGNORECASE)
_TEXT_URL = re.compile(r"https?://\S+")


def _editions(rendered: RenderedEmail) -> list[RenderedEmail]:
    return [rendered, *(rendered.translations[k] for k in sorted(rendered.translations))]


def is_countable(url: str, base_url: str) -> bool:
    """Whether a link's clicks may be counted: an http(s) URL that is not a reader's page."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    if not url.startswith(base_url + "/"):
        return True
    return not url[len(base_url):].startswith(READER_PREFIXES)


def links_of(rendered: RenderedEmail, base_url: str) -> list[str]:
    """The email's countable links in order of first appearance: link n is item n - 1."""
    found: dict[str, None] = {}
    for edition in _editions(rendered):
        for match in _ANCHOR_HREF.finditer(edition.html):
            url = html.unescape(match[2])
            if is_countable(url, base_url):
                found.setdefault(url)
    return list(found)


def _html_pointed(markup: str, targets: Mapping[str, str]) -> str:
    def point(match: re.Match[str]) -> str:
        target = targets.get(html.unescape(match[2]))
        return match[0] if target is None else f"{match[1]}{html.escape(target)}{match[3]}"

    return _ANCHOR_HREF.sub(point, markup)


def _text_pointed(text: str, targets: Mapping[str, str]) -> str:
    return _TEXT_URL.sub(lambda match: targets.get(match[0], match[0]), text)


def pointed(rendered: RenderedEmail, targets: Mapping[str, str]) -> RenderedEmail:
    """The email (and each edition) with every link in `targets` (url -> counter URL)
    pointing at its counter URL, in both parts."""
    if not targets:
        return rendered

    def one(edition: RenderedEmail) -> RenderedEmail:
        return replace(edition, html=_html_pointed(edition.html, targets),
                       text=_text_pointed(edition.text, targets), translations={})

    return replace(one(rendered), translations={
        language: one(edition) for language, edition in rendered.translations.items()})


def counted_email(rendered: RenderedEmail, numbered: Mapping[int, str],
                  counter_url: Callable[[int], str]) -> RenderedEmail:
    """The email with link n (`numbered`: n -> url) pointing at `counter_url(n)`."""
    return pointed(rendered, {url: counter_url(number) for number, url in numbered.items()})
