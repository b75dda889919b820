"""Who an issue goes to: its `audience` tag expression (or the operator's override),
checked against the known tags and turned into the outbox's Audience condition.

Resolved once, when a send starts, before any row is written: a malformed expression or
an unknown tag is a SendError naming it, and nothing is recorded.
"""

from __future__ import annotations

import sqlalchemy as sa

from publisher.config import Config
from publisher.content.audience_expressions import (
    AudienceSyntaxError,
    Expr,
    parse,
    unknown_languages,
    unknown_languages_message,
    unknown_tags,
    unknown_tags_message,
)
from publisher.content.issues import Issue
from publisher.errors import SendError
from publisher.sending.outbox import Audience
from publisher.subscribers.audience_sql import condition


def parsed(text: str, config: Config) -> Expr:
    """The expression, checked; SendError for bad syntax, an unknown tag or a `lang:` term
    no reader can meet (a language the site does not publish in)."""
    try:
        expr = parse(text)
    except AudienceSyntaxError as exc:
        raise SendError(f"audience {text!r}: {exc}") from exc
    unknown = unknown_tags(expr, config.known_tags)
    if unknown:
        raise SendError(f"audience {text!r}: {unknown_tags_message(unknown, config.known_tags)}")
    languages = config.site.languages
    if unknown_in := unknown_languages(expr, languages):
        raise SendError(f"audience {text!r}: {unknown_languages_message(unknown_in, languages)}")
    return expr


def expression_of(issue: Issue, override: str | None = None) -> str | None:
    """The audience text a send of this issue uses: the override, else the front matter's."""
    return override if override is not None else issue.meta.audience


def audience_of(issue: Issue, config: Config, override: str | None = None) -> Audience | None:
    """The issue's audience (None: every confirmed subscriber)."""
    text = expression_of(issue, override)
    if text is None:
        return None
    expr = parsed(text, config)
    dialect = sa.engine.make_url(config.database_url).get_backend_name()
    return Audience(str(expr), condition(expr, dialect, config.site.language))
