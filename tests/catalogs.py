"""The shipped gettext catalogs as Babel reads them, for tests that check their entries."""

from __future__ import annotations

from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

from publisher.i18n import DOMAIN, LOCALE_DIR


def catalog(name: str) -> Catalog:
    """A shipped language's catalog (en, zh_Hans, de), or the template (`messages`)."""
    path = (LOCALE_DIR / f"{DOMAIN}.pot" if name == DOMAIN
            else LOCALE_DIR / name / "LC_MESSAGES" / f"{DOMAIN}.po")
    with path.open("rb") as po:
        return read_po(po)


def msgids(messages: Catalog) -> set[tuple[str | None, str]]:
    """Each entry's context and msgid (a plural's singular), the header left out."""
    return {(message.context, message.id if isinstance(message.id, str) else message.id[0])
            for message in messages if message.id}


def translations(message: Message) -> tuple[str, ...]:
    """An entry's msgstr, or each of a plural entry's forms."""
    string = message.string
    if isinstance(string, str):
        return (string,)
    return tuple(str(form) for form in string or ())
