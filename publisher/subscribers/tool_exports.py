"""Subscriber lists written for other tools' importers: leaving is as easy as arriving.

Each format has the columns its tool reads (email, name, tags) and carries the consent time
in the column its own export uses, so `publisher import` recognises the file too. Only the
readers who read are written unless a status is asked for: a list of people who left,
imported elsewhere, would subscribe them again. Cells are neutralised as in the CSV export.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from datetime import datetime
from typing import IO, Any

from sqlalchemy.engine import Engine

from publisher.subscribers import store
from publisher.subscribers.csv_files import neutralise

Cells = Callable[[Any], list[str]]  # a subscriber row -> the format's cells


def _time(value: datetime | None) -> str:
    return value.isoformat() if value is not None else ""


def _split_name(name: str) -> tuple[str, str]:
    first, _, last = name.strip().partition(" ")
    return first, last.strip()


def _quoted_tags(tags: list[str]) -> str:
    """Mailchimp's TAGS cell: `"a","b, c"`."""
    return ",".join('"' + tag.replace('"', '""') + '"' for tag in tags)


def _mailchimp(row: Any) -> list[str]:
    first, last = _split_name(row.name)
    return [row.email, first, last, _quoted_tags(list(row.tags or [])),
            f"{row.consent_at:%Y-%m-%d %H:%M:%S}" if row.consent_at else "",
            f"{row.confirmed_at:%Y-%m-%d %H:%M:%S}" if row.confirmed_at else ""]


def _substack(row: Any) -> list[str]:
    return [row.email, row.name, "false", "", "free", "false", _time(row.consent_at)]


def _listmonk(row: Any) -> list[str]:
    attributes = {"tags": list(row.tags or []), "consent_at": _time(row.consent_at),
                  "consent_source": row.consent_source or ""}
    if row.language:  # what `publisher import` reads back as the reader's language
        attributes["language"] = row.language
    return [row.email, row.name, json.dumps(attributes, ensure_ascii=False)]


def _buttondown(row: Any) -> list[str]:
    metadata = {"name": row.name} if row.name else {}
    return [row.email, "", json.dumps(metadata, ensure_ascii=False),
            ",".join(row.tags or []), _time(row.consent_at),
            "regular" if row.status == store.CONFIRMED else "unactivated"]


FORMATS: dict[str, tuple[list[str], Cells]] = {
    "mailchimp": (["Email Address", "First Name", "Last Name", "TAGS", "OPTIN_TIME",
                   "CONFIRM_TIME"], _mailchimp),
    "substack": (["email", "name", "active_subscription", "expiry", "plan", "email_disabled",
                  "created_at"], _substack),
    "listmonk": (["email", "name", "attributes"], _listmonk),
    "buttondown": (["email", "notes", "metadata", "tags", "creation_date", "subscriber_type"],
                   _buttondown),
}


def export_for(engine: Engine, stream: IO[str], tool: str, status: str | None = None) -> int:
    """Write the subscribers (confirmed ones unless `status`) in `tool`'s format."""
    header, cells = FORMATS[tool]
    writer = csv.writer(stream)
    writer.writerow(header)
    count = 0
    for row in store.iter_all(engine, status or store.CONFIRMED):
        writer.writerow([neutralise(cell) for cell in cells(row)])
        count += 1
    return count
