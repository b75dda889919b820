"""A reader's choices on the subscribe form and the preferences page: topics, time zone and
language.

Pure: form values in, a validated store.Choice out (or RejectedInput naming the field at
fault: `topics`, `timezone` or `language`), and the fields the page template shows. The
topics offered are publisher.toml's `[topics]`, labelled in the page's language; the zones
are store.zone_names(), grouped by area for a <select>. A zone is never guessed (not from the
IP, and no script runs on our pages): the reader picks one or leaves it unset. The languages
are `[site] languages`, each named in itself, offered only when there are several; the one
shown selected before the reader chooses is the caller's (their stored one, or the best
match of their browser's Accept-Language), stored only when the form is submitted.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from itertools import groupby

from publisher.config import Config
from publisher.errors import PublisherError
from publisher.i18n import topic_label, translator_for
from publisher.subscribers.addresses import RejectedInput
from publisher.subscribers.languages import own_name, reader_language
from publisher.subscribers.store import Choice, zone_names

TOPIC_FIELD, ZONE_FIELD, LANGUAGE_FIELD = "topic", "timezone", "language"


def declared(config: Config) -> frozenset[str]:
    """The tags readers may choose."""
    return frozenset(config.settings.topics)


def labelled_topics(config: Config, language: str) -> list[tuple[str, str]]:
    """(tag, label) of every topic offered, in publisher.toml's order."""
    return [(tag, topic_label(labels, language))
            for tag, labels in config.settings.topics.items()]


def chosen_language(config: Config, text: str) -> str | None:
    """The site's language a form or link names (None: none named); RejectedInput for one
    the site does not publish in."""
    try:
        return reader_language(text, config.site.languages)
    except PublisherError as exc:
        raise RejectedInput(LANGUAGE_FIELD, "unknown", str(exc.message)) from exc


def choice_from(config: Config, topics: Iterable[str], zone: str, language: str = "") -> Choice:
    """The reader's choice as submitted; a topic not offered, an unknown zone or a language
    the site lacks is refused with the field named (an empty zone or language means: not
    set, the site's)."""
    offered = declared(config)
    picked = tuple(dict.fromkeys(topic.strip() for topic in topics))
    if any(topic not in offered for topic in picked):
        raise RejectedInput("topics", "unknown", "choose only among the topics offered")
    zone = zone.strip()
    if zone and zone not in zone_names():
        raise RejectedInput("timezone", "unknown", f"{zone[:64]!r} is not a known time zone")
    return Choice(picked, offered, zone or None, chosen_language(config, language))


@cache
def zone_groups() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The zones by area (Africa, America, …), for <optgroup>s."""
    return tuple((area, tuple(zones))
                 for area, zones in groupby(zone_names(), key=lambda z: z.split("/", 1)[0]))


def choice_fields(config: Config, topics: Iterable[str], zone: str | None,
                  language: str) -> dict[str, object]:
    """What the page template shows, in the page's `language`: each topic with its label
    and whether it is ticked, the zones, the zone selected, and (on a site of several
    languages) each language named in itself, `language` selected."""
    ticked = set(topics)
    offered = config.site.languages if len(config.site.languages) > 1 else []
    return {"topics": [(tag, label, tag in ticked)
                       for tag, label in labelled_topics(config, language)],
            "zones": zone_groups(), "zone": zone or "",
            "languages": [(tag, own_name(tag), tag == language) for tag in offered]}


def summary(config: Config, tags: Iterable[str], zone: str | None, language: str) -> str:
    """One line for the preferences page: the reader's topics and zone, in their words."""
    _ = translator_for(language).gettext
    held = set(tags)
    names = [label for tag, label in labelled_topics(config, language) if tag in held]
    return _("Topics: {topics}. Time zone: {zone}.", topics=", ".join(names) or _("none"),
             zone=zone or _("(not set)"))
