"""Other newsletter tools' subscriber exports, recognised and read (pure: text in, rows out).

A file is recognised from its name and header row, never from a flag: Mailchimp (subscribed,
unsubscribed and cleaned audiences, in any language: the upper-case columns OPTIN_TIME and
CONFIRM_TIME are never translated), Substack's email list, Buttondown's subscribers,
beehiiv's members, Ghost's members, listmonk's `email,name,attributes` and publisher's own
export. Each row becomes a `store.NewRow` whose status is the one the tool gave it:
`confirmed` or `pending` readers carry their original opt-in time and source (`consent`,
`restored` and `evidence`); `unsubscribed`, `bounced` (cleaned, `email_disabled`,
undeliverable) and `complained` rows are opt-outs, which the importer turns into
suppressions. A row that cannot be read raises PublisherError naming its column.
A reader's language comes from a `language` or `locale` column (a custom field of any of
them; listmonk's `attributes` keys of those names), as written: the importer checks it
against the site's languages.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from publisher.config import tag_name
from publisher.content.foreign_posts import tool_time
from publisher.errors import PublisherError
from publisher.subscribers import store
from publisher.subscribers.addresses import normalise_address, normalise_name
from publisher.subscribers.csv_files import EXPORT_FIELDS, new_row
from publisher.subscribers.store import BOUNCED, COMPLAINED, CONFIRMED, PENDING, UNSUBSCRIBED

Row = Mapping[str, str]  # one CSV row, keyed by the canonical (lower-case) column names
RowReader = Callable[[int, Row, str], store.NewRow]  # (line, row, hint)

# Mailchimp translates the merge-field labels of its exports, never the upper-case columns.
MAILCHIMP_LABELS = {
    "first name": ("first name", "vorname", "prénom", "nombre", "nome", "voornaam"),
    "last name": ("last name", "nachname", "nom", "apellido", "apellidos", "cognome",
                  "achternaam"),
}
TRUE = ("true", "1", "yes", "y", "t")


@dataclass(frozen=True)
class ListFormat:
    """One tool's subscriber export: its name, the label a report shows, its row reader."""

    name: str
    label: str
    read: RowReader


@dataclass(frozen=True)
class Recognised:
    """A file recognised: its format, a status hint from its name (Mailchimp's audience
    files), and how to rename its header to the canonical column names."""

    format: ListFormat
    hint: str
    columns: tuple[str, ...]


def canonical(header: list[str]) -> list[str]:
    return [cell.strip().lower() for cell in header]


def recognise(file_name: str, header: list[str]) -> Recognised | None:
    """The export a file with this name and header row comes from, or None."""
    columns = canonical(header)
    have = set(columns)
    name = file_name.lower().rsplit("/", 1)[-1]
    if {"email", "status", "consent_at"} <= have:
        return Recognised(PUBLISHER, "", tuple(columns))
    if {"optin_time", "confirm_time"} <= have:
        return Recognised(MAILCHIMP, _mailchimp_hint(name, have), _mailchimp_columns(columns))
    for found, needs in ((SUBSTACK, {"email", "active_subscription", "email_disabled"}),
                         (BUTTONDOWN, {"email", "subscriber_type"}),
                         (GHOST, {"email", "subscribed_to_emails"}),
                         (BEEHIIV, {"email", "status", "unsubscribed_at"}),
                         (LISTMONK, {"email", "name", "attributes"})):
        if needs <= have:
            return Recognised(found, "", tuple(columns))
    return None


def _mailchimp_hint(name: str, have: set[str]) -> str:
    """Mailchimp puts each audience in its own file (`unsubscribed_members_export_….csv`)."""
    if name.startswith("unsubscribed") or "unsub_time" in have:
        return UNSUBSCRIBED
    if name.startswith("cleaned") or "clean_time" in have:
        return BOUNCED
    return CONFIRMED


def _mailchimp_columns(columns: list[str]) -> tuple[str, ...]:
    """The first column is the address, whatever its language; names by their known labels."""
    renamed = ["email address", *columns[1:]]
    for canonical_name, labels in MAILCHIMP_LABELS.items():
        for i, column in enumerate(renamed):
            if column in labels:
                renamed[i] = canonical_name
                break
    return tuple(renamed)


def _flag(row: Row, column: str) -> bool:
    return row.get(column, "").strip().lower() in TRUE


def tag_list(text: str) -> tuple[str, ...]:
    """Tags in one cell: `a, b` or Mailchimp's quoted `"a","b, c"`; a tag of several words
    becomes one word an audience can name (`Early readers` -> `Early-readers`)."""
    cells = next(csv.reader([text], skipinitialspace=True), [])
    words = (re.sub(r"[\s(),]+", "-", cell.strip()).strip("-") for cell in cells)
    try:
        return tuple(dict.fromkeys(tag_name(word) for word in words if word))
    except ValueError as exc:
        raise PublisherError(f"tags: {exc}") from exc


def _optional(row: Row, column: str) -> datetime | None:
    text = row.get(column, "").strip()
    return tool_time(column, text) if text else None


def reader_row(line: int, row: Row, email_column: str, name: str, status: str, source: str,
               joined: datetime | None, tags: tuple[str, ...] = (), ip: str | None = None,
               evidence: Mapping[str, str] | None = None,
               left: datetime | None = None, confirmed: datetime | None = None
               ) -> store.NewRow:
    """The store's row for one reader: who joined keeps `joined` as consent time and
    `confirmed` (else `joined`) as confirmation time (whether steps enrol them is the
    import's `--welcome`, not this time); one who left keeps the time of leaving."""
    address = normalise_address(row.get(email_column, ""))
    restored: dict[str, datetime | int] = {}
    consent = None
    if joined is not None:
        consent = store.Consent(source, joined, ip)
        restored["created_at"] = joined
        if status == CONFIRMED:
            restored["confirmed_at"] = confirmed or joined
    stamp = {UNSUBSCRIBED: "unsubscribed_at", BOUNCED: "bounced_at",
             COMPLAINED: "complained_at"}.get(status)
    if stamp is not None and left is not None:
        restored[stamp] = left
    kept = {"source": source, **{k: v for k, v in (evidence or {}).items() if v}}
    return store.NewRow(line, address, normalise_name(name), tags, status, consent, restored,
                        kept, language_cell(row))


LANGUAGE_COLUMNS = ("language", "locale", "attributes.language", "attributes.locale")


def language_cell(row: Row) -> str | None:
    """The reader's language as the export writes it (`en`, `zh_CN`), or None."""
    for column in LANGUAGE_COLUMNS:
        if row.get(column, "").strip():
            return row[column].strip()
    return None


def _mailchimp(line: int, row: Row, hint: str) -> store.NewRow:
    confirm = _optional(row, "confirm_time")
    optin = _optional(row, "optin_time")
    name = " ".join(p for p in (row.get("first name", "").strip(),
                                row.get("last name", "").strip()) if p)
    evidence = {"optin_time": row.get("optin_time", ""), "optin_ip": row.get("optin_ip", ""),
                "confirm_time": row.get("confirm_time", ""),
                "confirm_ip": row.get("confirm_ip", "")}
    left = _optional(row, "unsub_time") or _optional(row, "clean_time")
    return reader_row(line, row, "email address", name, hint, "import:mailchimp",
                      optin or confirm, tag_list(row.get("tags", "")),
                      row.get("optin_ip") or row.get("confirm_ip") or None, evidence,
                      left, confirm)


def _substack(line: int, row: Row, hint: str) -> store.NewRow:
    status = BOUNCED if _flag(row, "email_disabled") else CONFIRMED
    tags = ("paid",) if _flag(row, "active_subscription") else ()
    created = _optional(row, "created_at")
    return reader_row(line, row, "email", row.get("name", ""), status, "import:substack",
                      created, tags, evidence={"created_at": row.get("created_at", ""),
                                               "plan": row.get("plan", "")})


BUTTONDOWN_STATUS = {"unactivated": PENDING, "unsubscribed": UNSUBSCRIBED,
                     "removed": UNSUBSCRIBED, "complained": COMPLAINED, "spammy": COMPLAINED,
                     "undeliverable": BOUNCED}  # the others (regular, premium, …) read mail


def _json(row: Row, column: str) -> dict[str, object]:
    """A cell of JSON attributes (listmonk's, Buttondown's metadata); {} when empty."""
    try:
        found = json.loads(row.get(column, "").strip() or "{}")
    except ValueError as exc:
        raise PublisherError(f"{column}: not JSON ({exc})") from exc
    return found if isinstance(found, dict) else {}


def _buttondown(line: int, row: Row, hint: str) -> store.NewRow:
    kind = row.get("subscriber_type", "").strip().lower()
    created = _optional(row, "creation_date")
    name = str(_json(row, "metadata").get("name", ""))
    return reader_row(line, row, "email", name, BUTTONDOWN_STATUS.get(kind, CONFIRMED),
                      "import:buttondown", created, tag_list(row.get("tags", "")),
                      evidence={"creation_date": row.get("creation_date", ""),
                                "subscriber_type": kind})


BEEHIIV_STATUS = {"active": CONFIRMED, "validating": PENDING, "pending": PENDING,
                  "inactive": UNSUBSCRIBED, "invalid": BOUNCED}


def _beehiiv(line: int, row: Row, hint: str) -> store.NewRow:
    state = row.get("status", "").strip().lower()
    if state not in BEEHIIV_STATUS:
        raise PublisherError(f"status: {state!r} is not one of {', '.join(BEEHIIV_STATUS)}")
    status = UNSUBSCRIBED if row.get("unsubscribed_at", "").strip() else BEEHIIV_STATUS[state]
    return reader_row(line, row, "email", row.get("name", ""), status, "import:beehiiv",
                      _optional(row, "created_at"), evidence={"status": state},
                      left=_optional(row, "unsubscribed_at"))


def _ghost(line: int, row: Row, hint: str) -> store.NewRow:
    status = CONFIRMED if _flag(row, "subscribed_to_emails") else UNSUBSCRIBED
    return reader_row(line, row, "email", row.get("name", ""), status, "import:ghost",
                      _optional(row, "created_at"), tag_list(row.get("labels", "")),
                      evidence={"created_at": row.get("created_at", "")})


LISTMONK_STATUS = {"enabled": CONFIRMED, "blocklisted": UNSUBSCRIBED}


def _listmonk(line: int, row: Row, hint: str) -> store.NewRow:
    state = row.get("status", "").strip().lower() or "enabled"
    if state not in LISTMONK_STATUS:
        raise PublisherError(f"status: {state!r} is not one of {', '.join(LISTMONK_STATUS)}")
    attributes = _json(row, "attributes")
    tags = attributes.get("tags", [])
    joined = _optional(row, "created_at") or _optional(
        {"attributes.consent_at": str(attributes.get("consent_at") or "")},
        "attributes.consent_at")  # where our own listmonk export keeps it
    spoken = {f"attributes.{key}": str(attributes[key]) for key in ("language", "locale")
              if isinstance(attributes.get(key), str)}
    return reader_row(line, {**row, **spoken}, "email", row.get("name", ""),
                      LISTMONK_STATUS[state], "import:listmonk", joined,
                      tuple(str(t) for t in tags) if isinstance(tags, list) else ())


def _publisher(line: int, row: Row, hint: str) -> store.NewRow:
    """Our own export: the columns `subscribers import` restores, with --confirmed's trust."""
    return new_row(line, dict(row), CONFIRMED, "import:publisher", "utf-8")


MAILCHIMP = ListFormat("mailchimp", "Mailchimp audience", _mailchimp)
SUBSTACK = ListFormat("substack", "Substack email list", _substack)
BUTTONDOWN = ListFormat("buttondown", "Buttondown subscribers", _buttondown)
BEEHIIV = ListFormat("beehiiv", "beehiiv members", _beehiiv)
GHOST = ListFormat("ghost", "Ghost members", _ghost)
LISTMONK = ListFormat("listmonk", "listmonk subscribers", _listmonk)
PUBLISHER = ListFormat("publisher", f"publisher export ({','.join(EXPORT_FIELDS[:3])},…)",
                       _publisher)
FORMATS = (MAILCHIMP, SUBSTACK, BUTTONDOWN, BEEHIIV, GHOST, LISTMONK, PUBLISHER)
