"""The rendered email as a value, and the placeholders it carries for per-subscriber values.

No template machinery here (render.py owns jinja2 and MJML): a send hands a RenderedEmail to
its sender processes, and a sender, which only personalises prepared bytes, must not pay for
importing what rendered it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

# Placeholders are plain ASCII with no '=' or '%' after encoding trouble spots, so they
# survive quoted-printable and base64-free 8bit bodies and can be replaced in bytes.
UNSUBSCRIBE_URL = "@@UNSUBSCRIBE_URL@@"
PREFERENCES_URL = "@@PREFERENCES_URL@@"
EMAIL = "@@EMAIL@@"
NAME = "@@NAME@@"
PLACEHOLDERS = (UNSUBSCRIBE_URL, PREFERENCES_URL, EMAIL, NAME)


@dataclass(frozen=True)
class RenderedEmail:
    """One issue's email, rendered once, with placeholders for per-subscriber values; an
    original carries its translations' emails by language (each rendered the same way), as
    an Issue carries its translations, and, keyed by a language with no translation, itself
    in that language's fixed strings (its `language` the original's)."""

    slug: str
    subject: str
    language: str
    html: str
    text: str
    translations: Mapping[str, RenderedEmail] = field(default_factory=dict)

    @property
    def html_bytes(self) -> int:
        return len(self.html.encode("utf-8"))
