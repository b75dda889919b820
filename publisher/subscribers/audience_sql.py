"""An audience expression as SQL: a boolean condition over the subscribers table, so a
send's snapshot stays one INSERT … SELECT however large the list.

Tag membership is a test on the `tags` JSON list, per dialect: SQLite looks through
json_each, PostgreSQL asks jsonb's `?`. Tags are always bound parameters, never SQL text.
A `lang:` term compares the reader's language (the site's for a reader who chose none,
when it is given) with its tag, or a narrower tag of it, case-insensitively.
The column is NOT NULL (an empty list at worst), so `not x` includes a subscriber without
tags, as publisher.content.audience_expressions.matches says. A chain of one operator (one And or Or
node) is one flat AND / OR, so the SQL nests no deeper than the expression does.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Engine

from publisher.content.audience_expressions import And, Expr, Language, Not, Tag
from publisher.db import subscriber_table
from publisher.subscribers.store import CONFIRMED


def _has_tag(tag: str, dialect_name: str) -> Any:
    tags = subscriber_table.c.tags
    if dialect_name == "postgresql":
        return sa.cast(tags, JSONB).has_key(sa.bindparam(None, tag, type_=sa.String))
    if dialect_name != "sqlite":
        raise ValueError(f"audiences need SQLite or PostgreSQL, not {dialect_name}")
    each = sa.func.json_each(tags).table_valued("value")
    return sa.exists().where(each.c.value == sa.bindparam(None, tag, type_=sa.String))


def _speaks(language: Language, site_language: str | None) -> Any:
    """The reader's language is the term's tag or a narrower one (`en`: en, en-GB)."""
    reads = sa.func.lower(sa.func.coalesce(subscriber_table.c.language, site_language or ""))
    wanted = language.tag.lower()  # letters, digits and hyphens: nothing LIKE reads
    return sa.or_(reads == sa.bindparam(None, wanted, type_=sa.String),
                  reads.like(sa.bindparam(None, wanted + "-%", type_=sa.String)))


def condition(expr: Expr, dialect_name: str, site_language: str | None = None) -> Any:
    """The SQL boolean a subscribers row meets when it is in the audience; a reader who
    chose no language reads in `site_language`."""
    if isinstance(expr, Tag):
        return _has_tag(expr.name, dialect_name)
    if isinstance(expr, Language):
        return _speaks(expr, site_language)
    if isinstance(expr, Not):
        return sa.not_(condition(expr.operand, dialect_name, site_language))
    joined = sa.and_ if isinstance(expr, And) else sa.or_
    return joined(*(condition(operand, dialect_name, site_language)
                    for operand in expr.operands))


def count(engine: Engine, expr: Expr | None, site_language: str | None = None) -> int:
    """Confirmed subscribers in the audience (every confirmed one for None)."""
    where = subscriber_table.c.status == CONFIRMED
    if expr is not None:
        where = sa.and_(where, condition(expr, engine.dialect.name, site_language))
    with engine.connect() as conn:
        return int(conn.execute(
            sa.select(sa.func.count()).select_from(subscriber_table).where(where)).scalar_one())
