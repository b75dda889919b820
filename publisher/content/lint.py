"""Checks on an issue's Markdown body that the parser alone would let through.

Each problem names its file line and says what to do instead: a link scheme that is not
allowed, an image that is a local file, raw HTML outside the allowed subset (the sanitiser
would silently drop it, so the author hears of it here). A translation is held to its
original: the same sections and links, in a language the site publishes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from markdown_it.token import Token

from publisher.content.issues import Issue, split_front_matter
from publisher.content.markup import (
    RAW_HTML_ATTRIBUTES,
    RAW_HTML_TAGS,
    RAW_IMAGE_SCHEMES,
    SAFE_URL_SCHEMES,
    RawTag,
    attr,
    parse,
    parse_keeping_escapes,
    raw_html,
)
from publisher.errors import Problem

LINK_SCHEMES = re.compile(r"^(https?://[^\s/?#]+\.[^\s]*|mailto:[^\s@]+@[^\s@]+|/[^\s]*|#[^\s]*)$")
BROKEN_LINK_SYNTAX = re.compile(r"\]\(|\[[^\]]+\]\s+\(https?:|<https?:[^>]*$")
# A link or image Markdown refused to make (javascript:, file:, …): it stays as text.
REFUSED_LINK = re.compile(r"(!?)\[[^\]]*\]\(\s*<?([A-Za-z][A-Za-z0-9+.-]*:[^\s>]*)")
SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")
*_FIRST_SCHEMES, _LAST_SCHEME = sorted(SAFE_URL_SCHEMES)
ALLOWED_SCHEMES_TEXT = f"{', '.join(_FIRST_SCHEMES)} or {_LAST_SCHEME}"  # http, https or mailto
RAW_IMAGE_PREFIXES = tuple(f"{scheme}://" for scheme in RAW_IMAGE_SCHEMES)
LOCAL_IMAGE = "local files are not supported; put the image on the web and use its https:// URL"
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Asterisks that emphasis left in the text: a run touching a non-space on either side
# (`5 * 3` is arithmetic, `**粗体。**这` or `**word.**next` is emphasis that did not apply).
LITERAL_EMPHASIS = re.compile(r"\S\*+|\*+\S")
LITERAL_EMPHASIS_HINT = ("is shown as literal asterisks: the emphasis did not apply here; "
                         "move the asterisks or a space, or write \\* for an asterisk")


@dataclass(frozen=True)
class _Body:
    path: Path
    body: str
    body_line: int


def _line(issue: _Body, token: Token | None) -> int:
    if token is None or not token.map:
        return issue.body_line
    return issue.body_line + token.map[0]


def _scheme_not_allowed(url: str) -> str | None:
    """The message for a URL whose scheme is not one a reader may follow, else None."""
    scheme = SCHEME.match(url)
    if scheme is None or scheme.group(1).lower() in SAFE_URL_SCHEMES:
        return None
    return (f"link {url!r}: the {scheme.group(1).lower()}: scheme is not allowed; "
            f"use {ALLOWED_SCHEMES_TEXT}")


def _is_local_file(url: str) -> bool:
    """A path on the author's disk: `img/x.png`, `file:///…` (not a root-relative `/img/…`)."""
    scheme = SCHEME.match(url)
    return scheme.group(1).lower() == "file" if scheme else not url.startswith("/")


def _href_problem(href: str) -> str | None:
    if LINK_SCHEMES.match(href):
        return None
    return _scheme_not_allowed(href) or f"malformed link {href!r}"


def _src_problem(src: str) -> str | None:
    if _is_local_file(src):
        return f"image {src!r}: {LOCAL_IMAGE}"
    if LINK_SCHEMES.match(src):
        return None
    return _scheme_not_allowed(src) or f"malformed image URL {src!r}"


def _text_problem(text: str) -> str | None:
    """A link Markdown did not make: a refused scheme or a local image, else broken syntax."""
    for match in REFUSED_LINK.finditer(text):
        is_image, url = match.group(1) == "!", match.group(2)
        while url.endswith(")") and url.count(")") > url.count("("):
            url = url[:-1]  # the link's closing parenthesis, not the URL's
        if is_image and _is_local_file(url):
            return f"image {url!r}: {LOCAL_IMAGE}"
        if message := _scheme_not_allowed(url):
            return message
    if BROKEN_LINK_SYNTAX.search(text):
        return f"malformed link syntax near {text[:40]!r}"
    return None


def _child_messages(child: Token) -> list[str | None]:
    if child.type == "link_open":
        return [_href_problem(attr(child, "href"))]
    if child.type == "image":
        src = attr(child, "src")
        no_alt = None if (child.content or "").strip() else f"image {src!r} has no alt text"
        return [no_alt, _src_problem(src)]
    if child.type == "text":
        return [_text_problem(child.content)]
    return []


def _link_problems(issue: _Body, block: Token) -> list[Problem]:
    """Links, images and raw HTML of one inline block, each at its own file line."""
    problems = []
    line = _line(issue, block)
    for child in block.children or []:
        if child.type == "html_inline":
            problems.extend(_raw_html_problems(issue, child.content, line))
        problems.extend(Problem(issue.path, line, "body", m) for m in _child_messages(child) if m)
        line += child.content.count("\n") + (child.type in ("softbreak", "hardbreak"))
    return problems


def _raw_tag_problem(tag: RawTag) -> str | None:
    if tag.name not in RAW_HTML_TAGS:
        allowed = ", ".join(f"<{name}>" for name in sorted(RAW_HTML_TAGS))
        return f"HTML <{tag.name}> is not allowed; allowed: {allowed}"
    if tag.closing:
        return None
    allowed_attrs = RAW_HTML_ATTRIBUTES.get(tag.name, frozenset())
    for name, _ in tag.attrs:
        if name not in allowed_attrs:
            return f"HTML attribute {name!r} on <{tag.name}> is not allowed" + (
                f"; allowed: {', '.join(sorted(allowed_attrs))}" if allowed_attrs else "")
    if tag.name == "img":
        return _raw_image_problem(tag.attr("src"), tag.attr("alt"))
    return None


def _raw_image_problem(src: str, alt: str) -> str | None:
    if _is_local_file(src):
        return f"image {src!r}: {LOCAL_IMAGE}"
    if not src.lower().startswith(RAW_IMAGE_PREFIXES):
        return f"image {src!r}: an <img> needs an https:// URL"
    if not alt.strip():
        return f"image {src!r} has no alt text"
    return None


def _raw_html_problems(issue: _Body, fragment: str, first_line: int) -> list[Problem]:
    """Raw HTML outside the allowed subset (an end tag says the same as its start tag)."""
    return [Problem(issue.path, first_line + item.line, "body", message)
            for item in raw_html(fragment)
            if isinstance(item, RawTag) and (message := _raw_tag_problem(item))]


def _empty_section_problems(issue: _Body, tokens: Sequence[Token]) -> list[Problem]:
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


def literal_emphasis_warnings(path: Path) -> list[Problem]:
    """Asterisks left as text in the rendered body (not escaped, not in code), each at its
    file line: `check` warns about them, since they usually mean emphasis that did not apply."""
    issue = _body_of(path)
    if issue is None:
        return []
    warnings = []
    for block in parse_keeping_escapes(issue.body):
        line = _line(issue, block)
        for child in block.children or []:
            match = LITERAL_EMPHASIS.search(child.content) if child.type == "text" else None
            if match:
                shown = child.content[max(0, match.start() - 8):match.end() + 8].strip()
                warnings.append(Problem(path, line, "body", f"{shown!r} {LITERAL_EMPHASIS_HINT}"))
            line += child.content.count("\n") + (child.type in ("softbreak", "hardbreak"))
    return warnings


def body_problems(issue: Issue) -> list[Problem]:
    """Every problem found in an issue's body, each with its file line."""
    return _body_problems(_Body(issue.path, issue.body, issue.body_line))


def raw_body_problems(path: Path) -> list[Problem]:
    """Body problems of a file whose front matter failed, so all problems show at once."""
    issue = _body_of(path)
    return [] if issue is None else _body_problems(issue)


def _body_of(path: Path) -> _Body | None:
    """The Markdown body of a file read on its own (None when it has none to read)."""
    try:
        parts = split_front_matter(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return None
    if parts is None:
        return None
    _, body, body_line = parts
    return _Body(path, body, body_line)


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
        elif token.type == "html_block":
            problems.extend(_raw_html_problems(issue, token.content, _line(issue, token)))
    problems.extend(_empty_section_problems(issue, tokens))
    return list(dict.fromkeys(problems))  # `<span>…</span>` on one line is one problem


@dataclass(frozen=True)
class _Section:
    level: int  # 0 for the text before the first heading
    line: int
    links: int


def _sections(issue: Issue) -> list[_Section]:
    """The body's sections in order (the text before the first heading is one, level 0),
    each with its heading's file line and how many links it holds."""
    body = _Body(issue.path, issue.body, issue.body_line)
    sections = [_Section(0, issue.body_line, 0)]
    for token in parse(issue.body):
        if token.type == "heading_open":
            sections.append(_Section(int(token.tag[1]), _line(body, token), 0))
        elif token.type == "inline":
            found = sum(child.type == "link_open" for child in token.children or [])
            last = sections[-1]
            sections[-1] = _Section(last.level, last.line, last.links + found)
    return sections


def _first_divergence(ours: list[_Section], theirs: list[_Section],
                      same: Callable[[_Section, _Section], bool]) -> int | None:
    """The index of the first section where the two differ (None when they do not)."""
    for index, (mine, other) in enumerate(zip(ours, theirs, strict=False)):
        if not same(mine, other):
            return index
    return None if len(ours) == len(theirs) else min(len(ours), len(theirs))


def _divergence(translation: Issue, original: Issue, ours: list[_Section],
                theirs: list[_Section], index: int, what: str,
                count: Callable[[list[_Section]], int]) -> Problem:
    line = ours[index].line if index < len(ours) else ours[-1].line
    where = f"line {theirs[index].line}" if index < len(theirs) else "its end"
    return Problem(translation.path, line, "body",
                   f"{count(ours)} {what} here, {count(theirs)} in the original "
                   f"({original.path.name}); the first difference is here (original: {where})")


def divergence_problems(translation: Issue, original: Issue) -> list[Problem]:
    """A translation's sections (headings, by level) and links, counted section by section
    against its original's. Headings that differ are one problem, at the first section that
    differs in level or in links (a dropped heading merges its links into the one before);
    else links that differ are one, at the first section holding a different number."""
    ours, theirs = _sections(translation), _sections(original)
    if [s.level for s in ours] != [s.level for s in theirs]:
        index = _first_divergence(ours, theirs, lambda a, b: (a.level, a.links) == (
            b.level, b.links))
        return [_divergence(translation, original, ours, theirs, index or 0, "sections",
                            lambda sections: len(sections) - 1)]
    index = _first_divergence(ours, theirs, lambda a, b: a.links == b.links)
    if index is None:
        return []
    return [_divergence(translation, original, ours, theirs, index, "links",
                        lambda sections: sum(section.links for section in sections))]


def translation_language_problems(translation: Issue, original: Issue, languages: list[str],
                                  default: str) -> list[Problem]:
    """The language a translation's file name gives it: one of the site's, not the original's.
    The original speaks its front matter's `language`, else the site's."""
    language = translation.language
    spoken = original.language if "language" in original.key_lines else default
    if language not in languages:
        return [Problem(translation.path, 1, None,
                        f"{language!r} (from the file name) is not in [site] languages "
                        f"{languages}: add it there, or rename the file")]
    if language in (spoken, default):
        return [Problem(translation.path, 1, None,
                        f"{language!r} (from the file name) is the language of the original "
                        f"or the site, whose pages show the original ({original.path.name})")]
    return []
