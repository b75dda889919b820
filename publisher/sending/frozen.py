"""The stored form of a send's email (the `sends.content` JSON) and back (pure).

The original's fields at the top level, as every send has stored them since migration 2;
its other editions, when it has any, under `translations` by language, each in the same form
(a translation, or the original in the words of a language with none: its `language` is
then the original's).
Content stored before translations were sent has no `translations` and reads back as an
original alone, so a send begun before the upgrade resumes as it began.
"""

from __future__ import annotations

from typing import Any

from publisher.mail.rendered import RenderedEmail

TRANSLATIONS = "translations"


def _fields(rendered: RenderedEmail) -> dict[str, Any]:
    return {"slug": rendered.slug, "subject": rendered.subject, "language": rendered.language,
            "html": rendered.html, "text": rendered.text}


def stored_form(rendered: RenderedEmail) -> dict[str, Any]:
    """The `sends.content` JSON of an email and its translations (none: the form of old)."""
    stored = _fields(rendered)
    if rendered.translations:
        stored[TRANSLATIONS] = {language: _fields(translation) for language, translation
                                in sorted(rendered.translations.items())}
    return stored


def thawed(stored: dict[str, Any]) -> RenderedEmail:
    """The email (with its translations) that `stored_form` stored."""
    return RenderedEmail(
        slug=stored["slug"], subject=stored["subject"], language=stored["language"],
        html=stored["html"], text=stored["text"],
        translations={language: thawed(dict(form))
                      for language, form in dict(stored.get(TRANSLATIONS) or {}).items()})
