"""Audience expressions: which subscribers an issue is for, as a formula over their tags
and languages.

`llm and not weekly-off`, `(llm or agents) and 中文`: tags are single words (no spaces or
parentheses; hyphens and any script are fine), combined with `not` > `and` > `or` and
parentheses. `lang:<tag>` names the readers of a language by its BCP 47 tag, a narrower
tag included (`lang:en`: readers in en, en-GB, en-US; a reader who chose no language reads
in the site's). Pure: text in, a small tree out; a problem raises AudienceSyntaxError with the
1-based column where it is. The database condition is built from the tree elsewhere
(publisher.subscribers.audience_sql); `matches` is the same meaning in Python.

A chain of one operator (`a or b or … z`) is one node holding its operands, never a
nested one per operator, so nothing recurses along it. Recursion follows only nesting
(`not`, parentheses), which the parser bounds at MAX_NESTING, and an expression names at
most MAX_TAGS tags: no expression that parses can exhaust Python's stack (here, in the SQL
built from it) or the database's expression depth.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from publisher.config import AUDIENCE_WORDS, LANGUAGE_TERM

_TOKEN = re.compile(r"\s*(?:(?P<paren>[()])|(?P<word>[^\s()]+))")
MAX_NESTING = 12  # `not`s and `(`s open at once (SQLite's parser overflows at 15 `a or b and (`)
MAX_TAGS = 500  # tags named (SQLite refuses an expression tree deeper than 1,000)
LANGUAGE_PREFIX = LANGUAGE_TERM  # `lang:en`: the readers of a language (no tag starts so)
_TERM = "a tag, `lang:<language>`, `not` or `(`"  # what may start an operand
_LANGUAGE_TAG = re.compile(r"^[A-Za-z]{2,8}(?:-[A-Za-z0-9]{1,8})*$")


class AudienceSyntaxError(ValueError):
    """An expression that cannot be read; `column` (1-based) points at the problem."""

    def __init__(self, message: str, column: int) -> None:
        self.column = column
        super().__init__(f"column {column}: {message}")


@dataclass(frozen=True)
class Tag:
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Language:
    """`lang:<tag>`: readers whose language is `tag`, or a narrower tag of it."""

    tag: str

    def __str__(self) -> str:
        return f"{LANGUAGE_PREFIX}{self.tag}"

    def covers(self, language: str | None) -> bool:
        """Whether a reader in `language` is one (`lang:en` covers en-GB; None: no one)."""
        wanted, found = self.tag.lower(), (language or "").lower()
        return found == wanted or found.startswith(wanted + "-")


@dataclass(frozen=True)
class Not:
    operand: Expr

    def __str__(self) -> str:
        return f"not {_wrapped(self.operand, Not)}"


@dataclass(frozen=True, init=False)
class And:
    """Operands joined by `and`, left to right. Operators group to the left, so a first
    operand that is itself an And joins the chain: And(And(a, b), c) == And(a, b, c), while
    And(a, And(b, c)) is `a and (b and c)`."""

    operands: tuple[Expr, ...]

    def __init__(self, first: Expr, *rest: Expr) -> None:
        object.__setattr__(self, "operands", _chained(And, first, rest))

    def __str__(self) -> str:
        return _joined(self, "and")


@dataclass(frozen=True, init=False)
class Or:
    """Operands joined by `or`, left to right; grouped as And's are."""

    operands: tuple[Expr, ...]

    def __init__(self, first: Expr, *rest: Expr) -> None:
        object.__setattr__(self, "operands", _chained(Or, first, rest))

    def __str__(self) -> str:
        return _joined(self, "or")


Expr = Tag | Language | Not | And | Or
_BINDS = {Or: 1, And: 2, Not: 3, Tag: 4, Language: 4}  # how tightly each node holds its operands


def _chained(kind: type[And | Or], first: Expr, rest: tuple[Expr, ...]) -> tuple[Expr, ...]:
    head = first.operands if isinstance(first, kind) else (first,)
    return (*head, *rest)


def _joined(expr: And | Or, word: str) -> str:
    first, *rest = expr.operands
    return f" {word} ".join([_wrapped(first, type(expr)),
                             *(_wrapped(operand, type(expr), right=True) for operand in rest)])


def _wrapped(expr: Expr, parent: type, right: bool = False) -> str:
    """`expr` as an operand of `parent`, in parentheses when it binds more loosely (or, as
    a right operand, as loosely: operators group to the left, and `str` round-trips)."""
    binds, limit = _BINDS[type(expr)], _BINDS[parent]
    looser = binds <= limit if right else binds < limit
    return f"({expr})" if looser else str(expr)


@dataclass(frozen=True)
class _Token:
    text: str
    column: int  # 1-based
    word: bool  # a tag or an operator word (False: a parenthesis)

    @property
    def keyword(self) -> str | None:
        lowered = self.text.lower()
        return lowered if self.word and lowered in AUDIENCE_WORDS else None


def _tokens(text: str) -> Iterator[_Token]:
    position = 0
    while text[position:].strip():
        match = _TOKEN.match(text, position)
        assert match is not None  # every non-space character starts a paren or a word
        kind = "paren" if match.group("paren") else "word"
        yield _Token(match.group(kind), match.start(kind) + 1, kind == "word")
        position = match.end()


class _Parser:
    """Recursive descent: or_expr := and_expr (or and_expr)*;
    and_expr := unary (and unary)*; unary := not unary | ( or_expr ) | tag.
    Chains loop; only `not` and `(` recurse, at most MAX_NESTING deep."""

    def __init__(self, text: str) -> None:
        self.tokens = list(_tokens(text))
        self.index = 0
        self.end_column = len(text.rstrip()) + 1
        self.depth = 0  # `not`s and `(`s open
        self.tags = 0

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise AudienceSyntaxError(f"expected {_TERM} but the expression ended",
                                      self.end_column)
        self.index += 1
        return token

    def or_expr(self) -> Expr:
        found = [self.and_expr()]
        while (token := self.peek()) is not None and token.keyword == "or":
            self.index += 1
            found.append(self.and_expr())
        return Or(*found) if len(found) > 1 else found[0]

    def and_expr(self) -> Expr:
        found = [self.unary()]
        while (token := self.peek()) is not None and token.keyword == "and":
            self.index += 1
            found.append(self.unary())
        return And(*found) if len(found) > 1 else found[0]

    def unary(self) -> Expr:
        token = self.take()
        if token.keyword == "not" or token.text == "(":
            self.depth += 1
            if self.depth > MAX_NESTING:
                raise AudienceSyntaxError(
                    f"`{token.text}` nests too deep: at most {MAX_NESTING} `not`s and `(`s "
                    "may be open at once", token.column)
            expr = Not(self.unary()) if token.keyword == "not" else self.group(token)
            self.depth -= 1
            return expr
        if not token.word or token.keyword is not None:
            raise AudienceSyntaxError(f"expected {_TERM} but found `{token.text}`",
                                      token.column)
        self.tags += 1
        if self.tags > MAX_TAGS:
            raise AudienceSyntaxError(f"too many tags: an audience names at most {MAX_TAGS}",
                                      token.column)
        if token.text.lower().startswith(LANGUAGE_PREFIX):
            return _language(token)
        return Tag(token.text)

    def group(self, opening: _Token) -> Expr:
        expr = self.or_expr()
        closing = self.peek()
        if closing is None or closing.text != ")":
            raise AudienceSyntaxError(f"`(` at column {opening.column} is never closed",
                                      closing.column if closing else self.end_column)
        self.index += 1
        return expr


def _language(token: _Token) -> Language:
    tag = token.text[len(LANGUAGE_PREFIX):]
    if not tag:
        raise AudienceSyntaxError(f"`{token.text}` names no language: write it as "
                                  "`lang:en` or `lang:zh-CN`", token.column)
    if not _LANGUAGE_TAG.match(tag):
        raise AudienceSyntaxError(f"`{token.text}`: {tag!r} is not a BCP 47 language tag "
                                  "(write `lang:en` or `lang:zh-CN`)", token.column)
    return Language(tag)


def parse(text: str) -> Expr:
    """The tree of an audience expression; AudienceSyntaxError (a ValueError) if malformed."""
    parser = _Parser(text)
    if not parser.tokens:
        raise AudienceSyntaxError("empty expression: name at least one tag", 1)
    expr = parser.or_expr()
    extra = parser.peek()
    if extra is not None:
        message = ("`)` without its `(`" if extra.text == ")"
                   else f"expected `and` or `or` but found `{extra.text}`")
        raise AudienceSyntaxError(message, extra.column)
    return expr


def tags_in(expr: Expr) -> list[str]:
    """The tags an expression names, in order of first appearance (`lang:` terms apart)."""
    return [node.name for node in _leaves(expr) if isinstance(node, Tag)]


def languages_in(expr: Expr) -> list[str]:
    """The language tags of an expression's `lang:` terms, in order of first appearance."""
    return [node.tag for node in _leaves(expr) if isinstance(node, Language)]


def _leaves(expr: Expr) -> list[Tag | Language]:
    """The terms of an expression, each once, in order of first appearance."""
    found: dict[Tag | Language, None] = {}
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, Tag | Language):
            found.setdefault(node)
        elif isinstance(node, Not):
            stack.append(node.operand)
        else:
            stack.extend(reversed(node.operands))  # the leftmost first
    return list(found)


def matches(expr: Expr, tags: set[str] | frozenset[str], language: str | None = None) -> bool:
    """Whether a subscriber with these tags, reading in `language`, is in the audience."""
    if isinstance(expr, Tag):
        return expr.name in tags
    if isinstance(expr, Language):
        return expr.covers(language)
    if isinstance(expr, Not):
        return not matches(expr.operand, tags, language)
    if isinstance(expr, And):
        return all(matches(operand, tags, language) for operand in expr.operands)
    return any(matches(operand, tags, language) for operand in expr.operands)


def unknown_tags(expr: Expr, known: frozenset[str]) -> list[str]:
    """Tags an expression names that no topic or [audience] tags entry declares."""
    return [tag for tag in tags_in(expr) if tag not in known]


def unknown_languages(expr: Expr, languages: list[str]) -> list[str]:
    """The `lang:` terms that cover none of the site's `[site] languages`."""
    return [tag for tag in languages_in(expr)
            if not any(Language(tag).covers(known) for known in languages)]


def unknown_languages_message(unknown: list[str], languages: list[str]) -> str:
    """One line naming the languages no reader can have, and the site's."""
    names = ", ".join(f"`{LANGUAGE_PREFIX}{tag}`" for tag in unknown)
    return (f"{names} names no language the site publishes in; its languages: "
            f"{', '.join(languages)} ([site] languages)")


def unknown_tags_message(unknown: list[str], known: frozenset[str]) -> str:
    """One line naming the unknown tags and what the settings declare."""
    names = ", ".join(repr(tag) for tag in unknown)
    declared = ", ".join(sorted(known)) or "none"
    return (f"unknown tag{'s' if len(unknown) > 1 else ''} {names}; known tags: {declared} "
            "(declare tags as [topics.<tag>] or in [audience] tags)")
