"""Checks on an issue's Markdown body that the parser alone would let through."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from markdown_it.token import Token

from publisher.errors import Problem
from publisher.issues import Issue, split_front_matter
from publisher.markup import attr, parse

LINK_SCHEMES = re.compile(r"^(https?://[^\s/?#]+\.[^\s]*|mailto:[^\s@]+@[^\s@]+|/[^\s]*|#[^\s]*)$")
BROKEN_LINK_SYNTAX = re.compile(r"\]\(|\[[^\]]+\]\s+\(https?:|<https?:[^>]*$")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass(frozen=True)
class _Body:
    path: Path
    body: str
    body_line: int


def _line(issue: _Body, token: Token | None) -> int:
    if token is None or not token.map:
        return issue.body_line
    return issue.body_line + token.map[0]


def _link_problems(issue: _Body, block: Token) -> list[Problem]:
    problems = []
    line = _line(issue, block)
    for child in block.children or []:
        if child.type == "link_open":
            href = attr(child, "href")
            if not LINK_SCHEMES.match(href):
                problems.append(Problem(issue.path, line, "body", f"malformed link {href!r}"))
        elif child.type == "image":
            src = attr(child, "src")
            if not (child.content or "").strip():
                problems.append(Problem(issue.path, line, "body", f"image {src!r} has no alt text"))
            if not LINK_SCHEMES.match(src):
                problems.append(Problem(issue.path, line, "body", f"malformed image URL {src!r}"))
        elif child.type == "text" and BROKEN_LINK_SYNTAX.search(child.content):
            near = child.content[:40]
            message = f"malformed link syntax near {near!r}"
            problems.append(Problem(issue.path, line, "body", message))
    return problems


def _empty_section_problems(issue: _Body, tokens: list[Token]) -> list[Problem]:
    """A heading directly followed by a heading of the same or a higher level, or by nothing."""
    problems = []
    headings = [(i, t) for i, t in enumerate(tokens) if t.type == "heading_open"]
    for position, (index, token) in enumerate(headings):
        level = int(token.tag[1])
        following = headings[position + 1] if position + 1 < len(headings) else None
        content_until = following[0] if following else len(tokens)
        has_content = content_until > index + 3  # heading_open, inline, heading_close
        next_is_deeper = following is not None and int(following[1].tag[1]) > level
        if not has_content and not next_is_deeper:
            title = tokens[index + 1].content
            problems.append(Problem(issue.path, _line(issue, token), "body",
                                    f"section {title!r} is empty"))
    return problems


def body_problems(issue: Issue) -> list[Problem]:
    """Every problem found in an issue's body, each with its file line."""
    return _body_problems(_Body(issue.path, issue.body, issue.body_line))


def raw_body_problems(path: Path) -> list[Problem]:
    """Body problems of a file whose front matter failed, so all problems show at once."""
    try:
        parts = split_front_matter(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return []
    if parts is None:
        return []
    _, body, body_line = parts
    return _body_problems(_Body(path, body, body_line))


def _body_problems(issue: _Body) -> list[Problem]:
    problems: list[Problem] = []
    for offset, text_line in enumerate(issue.body.split("\n")):
        if CONTROL.search(text_line):
            problems.append(Problem(issue.path, issue.body_line + offset, "body",
                                    "contains a control character"))
    tokens = parse(issue.body)
    if not any(t.type == "inline" and t.content.strip() for t in tokens):
        problems.append(Problem(issue.path, issue.body_line, "body", "the body is empty"))
    for token in tokens:
        if token.type == "inline":
            problems.extend(_link_problems(issue, token))
    problems.extend(_empty_section_problems(issue, tokens))
    return problems
