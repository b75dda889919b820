"""The rendered email as a value, and the placeholders it carries for per-subscriber values.

No template machinery here (render.py owns jinja2 and MJML): a send hands a RenderedEmail to
its sender processes, and a sender, which only personalises prepared bytes, must not pay for
importing what rendered it.
"""

from __future__ import annotations

from dataclasses import dataclass

# Placeholders are plain ASCII with no '=' or '%' after encoding trouble spots, so they
# survive quoted-printable and base64-free 8bit bodies and can be replaced in bytes.
UNSUBSCRIBE_URL = "@@UNSUBSCRIBE_URL@@"
PREFERENCES_URL = "@@PREFERENCES_URL@@"
EMAIL = "@@EMAIL@@"
NAME = "@@NAME@@"
PLACEHOLDERS = (UNSUBSCRIBE_URL, PREFERENCES_URL, EMAIL, NAME)


@dataclass(frozen=True)
class RenderedEmail:
    """One issue's email, rendered once, with placeholders for per-subscriber values."""

    slug: str
    subject: str
    language: str
    html: str
    text: str

    @property
    def html_bytes(self) -> int:
        return len(self.html.encode("utf-8"))
