"""Email addresses and display names: normalise, validate, refuse anything hostile.

The domain is lower-cased and IDNA-encoded (ASCII on the wire), so `user@例子.中国` works;
the local part is kept as typed and must be ASCII, because our SMTP side does not negotiate
SMTPUTF8 (a `用户@…` address could not be delivered). `key` is the case-folded form used for
uniqueness. Display names lose control characters, are length-limited, and may not mix
scripts in ways used for spoofing.

Every refusal is a `RejectedInput`: an English one-line message for the command line, plus
the field and a kind from a fixed list (`EMAIL_PROBLEMS`, `NAME_PROBLEMS`) that pages turn
into the reader's language; the validator's own wording never reaches a page.
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

EMAIL_PROBLEMS = ("required", "control", "too_long", "fullwidth_at", "no_at", "non_ascii_local",
                  "double_dot", "local", "domain", "syntax")
NAME_PROBLEMS = ("control", "too_long", "link", "mixed_scripts")
# email-validator's failures by what its message says, first match wins (its messages are
# English sentences, not codes; "syntax" catches the rest).
_VALIDATOR_KINDS = (
    ("full-width", "fullwidth_at"), ("small commercial at", "fullwidth_at"),
    ("must have an @-sign", "no_at"),
    ("Internationalized characters before the @-sign", "non_ascii_local"),
    ("too long", "too_long"), ("unsafe characters", "control"),
    ("two periods in a row", "double_dot"),
    ("before the @-sign", "local"), ("cannot start with", "local"),
    ("after the @-sign", "domain"), ("cannot end with", "domain"),
    ("period and a hyphen", "domain"),
)


class RejectedInput(InvalidAddress):
    """An address or name refused: `field` (email, name) and `kind` (one of EMAIL_PROBLEMS
    or NAME_PROBLEMS) for pages to explain; the message is one English line."""

    def __init__(self, field: str, kind: str, detail: str) -> None:
        super().__init__(f"{field}: {detail}")
        self.field, self.kind = field, kind


def _validator_kind(message: str) -> str:
    return next((kind for words, kind in _VALIDATOR_KINDS if words in message), "syntax")


@dataclass(frozen=True)
class Address:
    """A normalised address: `email` to send to, `key` to compare."""

    email: str
    key: str


def normalise_address(raw: str) -> Address:
    """Validate syntax (no DNS) and normalise; InvalidAddress names the problem."""
    if not isinstance(raw, str) or not raw.strip():
        raise RejectedInput("email", "required", "an address is required")
    if _CONTROL.search(raw):
        raise RejectedInput("email", "control", "control or invisible characters are not allowed")
    candidate = raw.strip()
    if len(candidate) > MAX_ADDRESS:
        raise RejectedInput("email", "too_long", f"longer than {MAX_ADDRESS} characters")
    if "@" in candidate and not candidate.rsplit("@", 1)[0].isascii():
        raise RejectedInput("email", "non_ascii_local",
                            "the part before @ must be ASCII (no SMTPUTF8 on our SMTP side)")
    try:
        checked = validate_email(candidate, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise RejectedInput("email", _validator_kind(str(exc)), str(exc)) from exc
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
        raise RejectedInput("name", "control", "control or invisible characters are not allowed")
    name = " ".join(name.split())
    if len(name) > MAX_NAME:
        raise RejectedInput("name", "too_long", f"longer than {MAX_NAME} characters")
    if "@" in name or "://" in name:
        raise RejectedInput("name", "link", "must not contain an address or a link")
    scripts = _scripts(name)
    if len(scripts) > 1 and not scripts <= _COMPATIBLE:
        raise RejectedInput("name", "mixed_scripts",
                            "mixes alphabets (" + ", ".join(sorted(scripts)) + ")")
    return name
