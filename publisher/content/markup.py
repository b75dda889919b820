"""Markdown -> sanitised HTML (web and email flavours) and the Markdown AST.

Every flavour (email, archive page, feed entry) comes from `to_html`, so all of them pass
the same nh3 allow-list. Raw HTML in an issue is parsed, not escaped: the sanitiser drops
what is unsafe, and `publisher check` reports every tag or attribute outside RAW_HTML_TAGS /
RAW_HTML_ATTRIBUTES (lint.py), so an author learns what was dropped before anyone reads it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from html.parser import HTMLParser
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

from publisher.content.cjk_emphasis import use_cjk_friendly_emphasis

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "i", "img", "kbd", "li", "mark", "ol", "p", "pre", "s", "small", "strong",
    "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}
# What an author may write as raw HTML in an issue (the rest is Markdown's to produce).
RAW_HTML_TAGS = frozenset({
    "b", "br", "code", "em", "i", "img", "kbd", "mark", "small", "strong", "sub", "sup",
})
RAW_HTML_ATTRIBUTES: Mapping[str, frozenset[str]] = {
    "img": frozenset({"src", "alt", "width", "height"}),
}
RAW_IMAGE_SCHEMES = ("https",)
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title", "style"},
    "img": {"src", "alt", "title", "width", "height", "style"},
    "td": {"style"}, "th": {"style"},
    **{tag: {"style", "id"} for tag in ("h1", "h2", "h3", "h4", "p", "ul", "ol", "li", "blockquote",
                                         "pre", "code", "hr", "table")},
}
SAFE_URL_SCHEMES = {"http", "https", "mailto"}

LINK_STYLE = "color:#0b62c4;text-decoration:underline;"
# Only a URL (or another long unbroken string) may break anywhere; words wrap normally.
URL_LINK_STYLE = LINK_STYLE + "word-break:break-word;overflow-wrap:anywhere;"
URL_LIKE_MIN_LENGTH = 30
# A wide table scrolls inside the card instead of widening it: width:0 keeps the table out
# of the layout's minimum width (mjml's tables would grow to it), min-width:100% fills it.
TABLE_SCROLL_STYLE = "width:0;min-width:100%;overflow-x:auto;margin:0 0 12px;"

# Inline styles for the email flavour: many clients drop <style>, so the look travels inline.
EMAIL_STYLES: Mapping[str, str] = {
    "h1": "font-size:24px;line-height:1.35;margin:24px 0 12px;",
    "h2": "font-size:20px;line-height:1.4;margin:28px 0 12px;padding-bottom:6px;"
          "border-bottom:2px solid #d0d7de;",
    "h3": "font-size:17px;line-height:1.45;margin:22px 0 8px;",
    "p": "margin:0 0 12px;line-height:1.7;",
    "ul": "margin:0 0 12px;padding-left:22px;line-height:1.7;",
    "ol": "margin:0 0 12px;padding-left:22px;line-height:1.7;",
    "blockquote": "margin:0 0 12px;padding-left:12px;border-left:3px solid #d0d7de;",
    # Code is set off by a tinted background, inline and as a block (the block's own <code>
    # takes "pre code", without the inline padding).
    "code": "font-family:Menlo,Consolas,monospace;font-size:90%;background-color:#f3f4f6;"
            "padding:1px 4px;border-radius:3px;",
    "pre code": "font-family:Menlo,Consolas,monospace;font-size:90%;",
    "pre": "margin:0 0 12px;padding:10px 12px;background-color:#f3f4f6;border-radius:4px;"
           "white-space:pre-wrap;word-break:break-word;overflow-wrap:anywhere;line-height:1.5;",
    "img": "max-width:100%;height:auto;",
    # Words in a table stay whole (mjml's cells break words anywhere); the table scrolls.
    "table": "border-collapse:collapse;word-break:normal;overflow-wrap:normal;",
    "th": "padding:4px 8px;border:1px solid #d0d7de;vertical-align:top;"
          "background-color:#f3f4f6;",
    "td": "padding:4px 8px;border:1px solid #d0d7de;vertical-align:top;",
}


def _new_parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": True, "linkify": False, "typographer": False})
    return use_cjk_friendly_emphasis(md.enable(["table", "strikethrough"]))


@lru_cache(maxsize=1)
def parser() -> MarkdownIt:
    """CommonMark with tables and strikethrough, emphasis as CJK readers expect it; raw HTML
    is parsed (and later sanitised)."""
    return _new_parser()


# How many texts' token streams are kept: a build and a send read each body several times in
# a row (checks, plain text, the email's and the page's HTML), a text per issue and language.
PARSES_KEPT = 8


@lru_cache(maxsize=PARSES_KEPT)
def parse(markdown: str) -> tuple[Token, ...]:
    """The block token stream (the AST in markdown-it's flat form), shared between callers:
    read it, never change it (`to_html` renders its own copy)."""
    return tuple(parser().parse(markdown))


def _own_copy(token: Token) -> Token:
    """A token a renderer may change (attributes, children) without touching the shared one."""
    children = None if token.children is None else [_own_copy(c) for c in token.children]
    return Token(token.type, token.tag, token.nesting, dict(token.attrs), token.map,
                 token.level, children, token.content, token.markup, token.info, token.meta,
                 token.block, token.hidden)


@lru_cache(maxsize=1)
def _escape_keeping_parser() -> MarkdownIt:
    return _new_parser().disable("text_join")


def parse_keeping_escapes(markdown: str) -> list[Token]:
    """As `parse`, with backslash escapes left as their own `text_special` tokens, so a check
    can tell an escaped `\\*` from an asterisk that emphasis left behind."""
    return _escape_keeping_parser().parse(markdown)


class _StyledRenderer(RendererHTML):
    """Adds inline styles to opening tags for the email flavour."""

    def __init__(self, styles: Mapping[str, str]) -> None:
        super().__init__()
        self.styles = styles

    def renderToken(  # noqa: N802 - markdown-it's name
        self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
    ) -> str:
        token = tokens[idx]
        style = self.styles.get(token.tag)
        if style and token.nesting >= 0:
            own = token.attrGet("style")  # e.g. a table column's text-align
            token.attrSet("style", style + (str(own) if own else ""))
        return str(super().renderToken(tokens, idx, options, env))

    # markdown-it renders code with rules of their own that never call renderToken.
    def code_inline(self, tokens: Sequence[Token], idx: int, options: OptionsDict,
                    env: EnvType) -> str:
        if "code" in self.styles:
            tokens[idx].attrSet("style", self.styles["code"])
        return str(super().code_inline(tokens, idx, options, env))

    def fence(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        return self._style_pre(str(super().fence(tokens, idx, options, env)))

    def code_block(self, tokens: Sequence[Token], idx: int, options: OptionsDict,
                   env: EnvType) -> str:
        return self._style_pre(str(super().code_block(tokens, idx, options, env)))

    def _style_pre(self, html: str) -> str:
        pre, code = self.styles.get("pre"), self.styles.get("pre code")
        if pre and code and html.startswith("<pre><code"):
            return f'<pre style="{pre}"><code style="{code}"' + html[len("<pre><code"):]
        return html


def _heading_ids(tokens: list[Token]) -> None:
    """Give h2/h3 stable ids (section-1, section-1-2) so archive pages can be deep-linked."""
    counters = [0, 0]
    for token in tokens:
        if token.type != "heading_open" or token.tag not in ("h2", "h3"):
            continue
        if token.tag == "h2":
            counters = [counters[0] + 1, 0]
            token.attrSet("id", f"section-{counters[0]}")
        else:
            counters[1] += 1
            token.attrSet("id", f"section-{counters[0]}-{counters[1]}")


def absolute_url(url: str, base_url: str | None) -> str:
    """A root-relative URL (`/issues/…`) joined to the site's base URL; others unchanged."""
    if base_url and url.startswith("/") and not url.startswith("//"):
        return base_url.rstrip("/") + url
    return url


def looks_like_url(label: str, href: str) -> bool:
    """Is a link's text an unbroken string (a URL, an address) rather than words?"""
    if not label or any(ch.isspace() for ch in label):
        return False
    return (label == href or "://" in label or label.startswith("www.") or "@" in label
            or len(label) >= URL_LIKE_MIN_LENGTH)


def _prepare_links(tokens: list[Token], base_url: str | None, email: bool) -> None:
    """Make root-relative links and images absolute; style email links by their text."""
    for block in tokens:
        children = block.children or []
        for index, child in enumerate(children):
            if child.type == "image":
                child.attrSet("src", absolute_url(attr(child, "src"), base_url))
            elif child.type == "link_open":
                href = attr(child, "href")
                child.attrSet("href", absolute_url(href, base_url))
                if email:
                    label = _link_label(children, index)
                    child.attrSet("style", URL_LINK_STYLE if looks_like_url(label, href)
                                  else LINK_STYLE)


def _link_label(children: list[Token], open_index: int) -> str:
    label: list[str] = []
    for child in children[open_index + 1:]:
        if child.type == "link_close":
            break
        if child.type in ("text", "code_inline"):
            label.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            label.append(" ")
    return "".join(label)


def sanitise(html: str, *, email: bool = False) -> str:
    """Allow-list sanitising: no script, no event handlers, no javascript: URLs.

    `email=True` also gives every image (Markdown or raw HTML) the style that keeps it
    inside the email's column."""
    return str(
        nh3.clean(
            html,
            tags=ALLOWED_TAGS,
            attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
            url_schemes=SAFE_URL_SCHEMES,
            link_rel="noopener noreferrer",
            strip_comments=True,
            set_tag_attribute_values={"img": {"style": EMAIL_STYLES["img"]}} if email else None,
        )
    )


_TABLE = re.compile(r"<table\b.*?</table>", re.DOTALL)


def _scrolling_tables(html: str) -> str:
    """Wrap each table in a div that scrolls sideways (after sanitising: div is not allowed
    in an issue, and Markdown tables never nest)."""
    return _TABLE.sub(lambda m: f'<div style="{TABLE_SCROLL_STYLE}">{m.group(0)}</div>', html)


def to_html(markdown: str, *, email: bool = False, base_url: str | None = None) -> str:
    """Render Markdown to sanitised HTML; `email=True` inlines the styles email clients need,
    and `base_url` makes root-relative links and images absolute."""
    tokens = [_own_copy(token) for token in parse(markdown)]
    _heading_ids(tokens)
    _prepare_links(tokens, base_url, email)
    renderer = _StyledRenderer(EMAIL_STYLES if email else {})
    md = parser()
    html = sanitise(renderer.render(tokens, md.options, {}), email=email)
    return _scrolling_tables(html) if email else html


@dataclass(frozen=True)
class RawTag:
    """One tag of raw HTML written in an issue, with its line within the fragment (0-based)."""

    name: str
    attrs: tuple[tuple[str, str], ...]
    line: int
    closing: bool = False

    def attr(self, name: str) -> str:
        return next((value for key, value in self.attrs if key == name), "")


_CONTENT_DROPPED = frozenset({"script", "style"})  # nh3 drops their content, not just the tag


class _RawHTMLReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.items: list[RawTag | str] = []
        self._dropping = 0

    def _tag(self, name: str, attrs: list[tuple[str, str | None]], closing: bool) -> None:
        pairs = tuple((key, value or "") for key, value in attrs)
        self.items.append(RawTag(name, pairs, self.getpos()[0] - 1, closing))

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag(tag, attrs, False)
        self._dropping += tag in _CONTENT_DROPPED

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._tag(tag, attrs, False)

    def handle_endtag(self, tag: str) -> None:
        self._tag(tag, [], True)
        if tag in _CONTENT_DROPPED and self._dropping:
            self._dropping -= 1

    def handle_data(self, data: str) -> None:
        if not self._dropping:
            self.items.append(data)


def raw_html(fragment: str) -> list[RawTag | str]:
    """The tags and text of a raw HTML fragment, in order (script and style content left out)."""
    reader = _RawHTMLReader()
    reader.feed(fragment)
    reader.close()
    return reader.items


def attr(token: Token, name: str) -> str:
    value: Any = token.attrGet(name)
    return "" if value is None else str(value)
