"""Translations of every fixed string of pages, mails and the console, from gettext catalogs.

The strings are English msgids marked where they are used (`_()`, `ngettext()`,
`pgettext()` in Python and in the templates; `N_()` marks a msgid kept as data and
translated later). Their translations live in the package, one catalog per language:
`publisher/locale/<lang>/LC_MESSAGES/messages.po`, extracted with Babel (`make locale`) and
compiled to `.mo` when the wheel is built; a source checkout without `.mo` files compiles the
`.po` in memory, once per language. Dates are Babel's, in the catalog's locale.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from functools import cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import Translations

LOCALE_DIR = Path(__file__).resolve().parent / "locale"
DOMAIN = "messages"
SOURCE_LANGUAGE = "en"  # the msgids' language, and where every lookup ends


def N_(message: str) -> str:
    """Mark `message` for extraction; it is translated where it is shown."""
    return message


# Values shown by name (a subscriber's status, a delivery's state, a history event), each
# msgid written out so that extraction finds it. Templates have them as globals.
STATUS_LABELS = {
    "pending": N_("waiting for confirmation"),
    "confirmed": N_("subscribed"),
    "unsubscribed": N_("unsubscribed"),
    "bounced": N_("paused after bounces"),
    "complained": N_("unsubscribed after a spam report"),
}
DELIVERY_LABELS = {
    "queued": N_("queued"),
    "sending": N_("sending"),
    "sent": N_("sent"),
    "deferred": N_("deferred"),
    "failed": N_("failed"),
    "cancelled": N_("cancelled"),
}
SEND_STATE_LABELS = {
    "sending": N_("sending"),
    "paused": N_("paused"),
    "cancelled": N_("cancelled"),
    "done": N_("done"),
}
EVENT_LABELS = {
    "created": N_("added"),
    "confirmation_sent": N_("confirmation mail sent"),
    "confirmed": N_("confirmed"),
    "unsubscribed": N_("unsubscribed"),
    "bounced": N_("paused after bounces"),
    "complained": N_("spam report"),
    "resubscribed": N_("subscribed again"),
    "topics_changed": N_("topics changed"),
    "timezone_changed": N_("time zone changed"),
    "erased": N_("erased"),
}
DETAIL_LABELS = {
    "via": N_("via"),
    "source": N_("source"),
    "from": N_("from"),
    "to": N_("to"),
    "status": N_("status"),
    "detail": N_("detail"),
}
TOTAL_LABELS = {
    "bounce_events": N_("bounces ever"),
    "complaint_events": N_("spam reports ever"),
}
VALUE_LABELS: Mapping[str, Mapping[str, str]] = {
    "status_labels": STATUS_LABELS, "delivery_labels": DELIVERY_LABELS,
    "send_state_labels": SEND_STATE_LABELS, "event_labels": EVENT_LABELS,
    "detail_labels": DETAIL_LABELS, "total_labels": TOTAL_LABELS,
}


@dataclass(frozen=True)
class Translator:
    """One catalog's translations: `gettext` and friends, with brace placeholders filled
    from keyword values (`_("By {authors}", authors=...)`) when values are given."""

    locale: str  # the catalog's name: en, zh_Hans, de
    translations: Translations

    def gettext(self, message: str, /, **values: object) -> str:
        text = self.translations.gettext(message)
        return text.format(**values) if values else text

    def ngettext(self, singular: str, plural: str, n: int, /, **values: object) -> str:
        """The form of `singular`/`plural` for the count `n` ({n} is filled in)."""
        return self.translations.ngettext(singular, plural, n).format(n=n, **values)

    def pgettext(self, context: str, message: str, /, **values: object) -> str:
        text = str(self.translations.pgettext(context, message))
        return text.format(**values) if values else text

    def template_functions(self) -> dict[str, Callable[..., str]]:
        """What templates call, passed in each render's context (never set on the shared
        environment, which serves every language at once)."""
        return {"_": self.gettext, "gettext": self.gettext, "ngettext": self.ngettext,
                "pgettext": self.pgettext}

    def date(self, day: date) -> str:
        """A date as a reader of this catalog's language writes it (Babel's long format)."""
        return format_date(day, format="long", locale=self.locale)


@cache
def shipped_catalogs() -> tuple[str, ...]:
    """The languages publisher ships a catalog for (a folder with a messages.po)."""
    return tuple(sorted(path.parent.parent.name
                        for path in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")))


@cache
def catalog_name(language: str) -> str:
    """The catalog for a BCP 47 tag: its language and script (zh-CN -> zh_Hans), else its
    language (de-AT -> de), else another script of it (zh-TW -> zh_Hans), else English."""
    shipped = shipped_catalogs()
    tag = language.replace("_", "-")
    try:
        parsed = Locale.parse(tag, sep="-")
        primary, script = parsed.language, parsed.script
    except (UnknownLocaleError, ValueError):
        primary, script = tag.split("-", 1)[0].lower(), None
    candidates = [f"{primary}_{script}"] if script else []
    candidates += [primary, *(name for name in shipped if name.startswith(f"{primary}_"))]
    return next((name for name in candidates if name in shipped), SOURCE_LANGUAGE)


def _compiled(catalog: str) -> io.BytesIO:
    """The catalog's .mo: the one the build compiled, or the .po compiled now."""
    folder = LOCALE_DIR / catalog / "LC_MESSAGES"
    mo = folder / f"{DOMAIN}.mo"
    if mo.is_file():
        return io.BytesIO(mo.read_bytes())
    with (folder / f"{DOMAIN}.po").open("rb") as po:
        messages = read_po(po, locale=catalog)
    compiled = io.BytesIO()
    write_mo(compiled, messages)
    compiled.seek(0)
    return compiled


@cache
def _translator(catalog: str) -> Translator:
    return Translator(catalog, Translations(_compiled(catalog), domain=DOMAIN))


def translator_for(language: str) -> Translator:
    """The translations for a BCP 47 tag (see `catalog_name`), loaded once per catalog."""
    return _translator(catalog_name(language))


def topic_label(labels: Mapping[str, str], language: str) -> str:
    """A topic's label (`[topics.<tag>]`, one per language) for a BCP 47 tag: zh-CN, then
    zh, then en, then the first one declared."""
    primary = language.split("-", 1)[0].lower()
    for key in (language, primary, "en"):
        if labels.get(key):
            return labels[key]
    return next(iter(labels.values()), "")
