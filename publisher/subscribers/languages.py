"""A reader's language (pure): a BCP 47 tag among the site's `[site] languages`, read from a
form, a CSV cell or an option as the site spells it (`zh-cn` is the site's `zh-CN`), the best
match of a browser's Accept-Language among them, and each language's name in itself.

A tag the site does not publish in is refused (PublisherError naming the `language` field):
a reader is never given a language whose pages and mails the site does not have.
A reader whose language has no translation of an issue gets the original, its fixed strings
(header, date, footer) in their own language: `strings_editions` names those languages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import cache

from babel import Locale, UnknownLocaleError

from publisher.errors import PublisherError
from publisher.subscribers.store import NewRow

FIELD = "language"


def reader_language(text: str | None, languages: Sequence[str]) -> str | None:
    """The site's tag that `text` names (case-insensitive; `_` taken as `-`); None for an
    empty value (the site's language); PublisherError when it is not among `languages`."""
    tag = (text or "").strip().replace("_", "-")
    if not tag:
        return None
    for known in languages:
        if known.lower() == tag.lower():
            return known
    raise PublisherError(f"{FIELD}: {tag!r} is not one of the site's languages "
                         f"({', '.join(languages)})")


def with_site_language(row: NewRow, languages: Sequence[str]) -> NewRow:
    """An imported row whose `language` is the site's spelling of its cell (or None when
    empty); PublisherError (`language: …`) when the site does not publish in it."""
    return replace(row, language=reader_language(row.language, languages))


def _weighted(accept_language: str) -> list[tuple[float, int, str]]:
    """The header's tags with their q-values, best first (ties: the order given)."""
    found: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag.strip() and quality > 0:
            found.append((-quality, position, tag.strip().lower()))
    return sorted(found)


def best_language(accept_language: str | None, languages: Sequence[str], default: str) -> str:
    """The site's language a browser prefers: for each tag it accepts, best first, the same
    tag, else one of the same primary language (`en-GB` -> `en`, `zh` -> `zh-CN`); else
    `default` (the site's language). `*` accepts the default."""
    for _quality, _position, wanted in _weighted(accept_language or ""):
        if wanted == "*":
            return default
        exact = [known for known in languages if known.lower() == wanted]
        primary = wanted.split("-", 1)[0]
        close = [known for known in languages if known.lower().split("-", 1)[0] == primary]
        if exact or close:
            return (exact or close)[0]
    return default


@cache
def own_name(tag: str) -> str:
    """A language's name in itself (`English`, `中文 (简体, 中国)`), as Babel's CLDR data
    gives it; the tag itself for one Babel does not know."""
    try:
        return str(Locale.parse(tag, sep="-").get_display_name(Locale.parse(tag, sep="-")))
    except (UnknownLocaleError, ValueError):
        return tag


def edition_language(reader: str | None, original: str, translations: Sequence[str]) -> str:
    """Which edition of an issue a reader gets: the translation in their language (the same
    tag, else the same primary language: an `en-GB` reader gets `en`), else the original
    (also for a reader in the original's language, or with none recorded). `translations`
    are the keys of a send's editions, `strings_editions`' languages among them."""
    if reader is None:
        return original
    return best_language(reader, [original, *sorted(translations)], original)


def strings_editions(languages: Sequence[str], original: str,
                     translations: Sequence[str]) -> list[str]:
    """The site's languages whose readers get the original (by `edition_language`) but are
    not of its language (the same primary language): each gets the original with its own
    fixed strings, an edition keyed by that language."""
    primary = original.split("-", 1)[0].lower()
    return [language for language in languages
            if edition_language(language, original, translations) == original
            and language.split("-", 1)[0].lower() != primary]
