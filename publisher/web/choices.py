"""A reader's choices on the subscribe form and the preferences page: topics and time zone.

Pure: form values in, a validated store.Choice out (or RejectedInput naming the field at
fault: `topics` or `timezone`), and the fields the page template shows. The topics offered
are publisher.toml's `[topics]`, labelled in the site's language; the zones are
store.zone_names(), grouped by area for a <select>. A zone is never guessed (not from the
IP, and no script runs on our pages): the reader picks one or leaves it unset.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from itertools import groupby

from publisher.config import Config
from publisher.i18n import strings_for, topic_label
from publisher.subscribers.addresses import RejectedInput
from publisher.subscribers.store import Choice, zone_names

TOPIC_FIELD, ZONE_FIELD = "topic", "timezone"


def declared(config: Config) -> frozenset[str]:
    """The tags readers may choose."""
    return frozenset(config.settings.topics)


def labelled_topics(config: Config, language: str) -> list[tuple[str, str]]:
    """(tag, label) of every topic offered, in publisher.toml's order."""
    return [(tag, topic_label(labels, language))
            for tag, labels in config.settings.topics.items()]


def choice_from(config: Config, topics: Iterable[str], zone: str) -> Choice:
    """The reader's choice as submitted; a topic not offered or an unknown zone is refused
    with the field named (an empty zone means: not set)."""
    offered = declared(config)
    picked = tuple(dict.fromkeys(topic.strip() for topic in topics))
    if any(topic not in offered for topic in picked):
        raise RejectedInput("topics", "unknown", "choose only among the topics offered")
    zone = zone.strip()
    if zone and zone not in zone_names():
        raise RejectedInput("timezone", "unknown", f"{zone[:64]!r} is not a known time zone")
    return Choice(picked, offered, zone or None)


@cache
def zone_groups() -> tuple[tuple[str, tuple[str, ...]], ...]:
    """The zones by area (Africa, America, …), for <optgroup>s."""
    return tuple((area, tuple(zones))
                 for area, zones in groupby(zone_names(), key=lambda z: z.split("/", 1)[0]))


def choice_fields(config: Config, topics: Iterable[str], zone: str | None) -> dict[str, object]:
    """What the page template shows: each topic with its label and whether it is ticked,
    the zones, and the zone selected."""
    ticked = set(topics)
    language = config.site.language
    return {"topics": [(tag, label, tag in ticked)
                       for tag, label in labelled_topics(config, language)],
            "zones": zone_groups(), "zone": zone or ""}


def summary(config: Config, tags: Iterable[str], zone: str | None) -> str:
    """One line for the preferences page: the reader's topics and zone, in their words."""
    t = strings_for(config.site.language)
    held = set(tags)
    names = [label for tag, label in labelled_topics(config, config.site.language)
             if tag in held]
    return t["preferences_choices"].format(topics=", ".join(names) or t["no_topics"],
                                           zone=zone or t["timezone_unset"])
