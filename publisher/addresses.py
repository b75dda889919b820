"""Email addresses and display names: normalise, validate, refuse anything hostile.

The domain is lower-cased and IDNA-encoded (ASCII on the wire); the local part is kept as
typed. `key` is the case-folded form used for uniqueness. Display names lose control
characters, are length-limited, and may not mix scripts in ways used for spoofing.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from email_validator import EmailNotValidError, validate_email

from publisher.errors import InvalidAddress

MAX_ADDRESS = 254
MAX_NAME = 100
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")


@dataclass(frozen=True)
class Address:
    """A normalised address: `email` to send to, `key` to compare."""

    email: str
    key: str


def normalise_address(raw: str) -> Address:
    """Validate syntax (no DNS) and normalise; InvalidAddress names the problem."""
    if not isinstance(raw, str) or not raw.strip():
        raise InvalidAddress("email: an address is required")
    if _CONTROL.search(raw):
        raise InvalidAddress("email: control or invisible characters are not allowed")
    candidate = raw.strip()
    if len(candidate) > MAX_ADDRESS:
        raise InvalidAddress(f"email: longer than {MAX_ADDRESS} characters")
    if not candidate.split("@", 1)[0].isascii():
        raise InvalidAddress("email: the part before @ must be ASCII")
    try:
        checked = validate_email(candidate, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise InvalidAddress(f"email: {exc}") from exc
    local = candidate.rsplit("@", 1)[0]
    domain = checked.ascii_domain.lower()
    email = f"{local}@{domain}"
    return Address(email=email, key=email.casefold())


def _scripts(text: str) -> set[str]:
    scripts = set()
    for char in text:
        if char.isalpha():
            name = unicodedata.name(char, "UNKNOWN").split(" ")[0]
            scripts.add(name)
    return scripts


# Scripts that legitimately mix with Latin in names (CJK names with Latin initials, etc.).
_COMPATIBLE = {"CJK", "HIRAGANA", "KATAKANA", "HANGUL", "LATIN"}


def normalise_name(raw: str | None) -> str:
    """A display name safe for headers and pages; '' when absent."""
    if raw is None:
        return ""
    name = unicodedata.normalize("NFKC", raw)
    if _CONTROL.search(name):
        raise InvalidAddress("name: control or invisible characters are not allowed")
    name = " ".join(name.split())
    if len(name) > MAX_NAME:
        raise InvalidAddress(f"name: longer than {MAX_NAME} characters")
    if "@" in name or "://" in name:
        raise InvalidAddress("name: must not contain an address or a link")
    scripts = _scripts(name)
    if len(scripts) > 1 and not scripts <= _COMPATIBLE:
        raise InvalidAddress("name: mixes alphabets (" + ", ".join(sorted(scripts)) + ")")
    return name
