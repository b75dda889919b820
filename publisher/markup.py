"""Markdown -> sanitised HTML (web and email flavours) and the Markdown AST."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "del", "em", "h1", "h2", "h3", "h4", "h5",
    "h6", "hr", "i", "img", "li", "ol", "p", "pre", "s", "strong", "sub", "sup", "table",
    "tbody", "td", "th", "thead", "tr", "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title", "style"},
    "img": {"src", "alt", "title", "width", "height", "style"},
    "td": {"style"}, "th": {"style"},
    **{tag: {"style", "id"} for tag in ("h1", "h2", "h3", "h4", "p", "ul", "ol", "li", "blockquote",
                                         "pre", "code", "hr", "table")},
}
SAFE_URL_SCHEMES = {"http", "https", "mailto"}

# Inline styles for the email flavour: many clients drop <style>, so the look travels inline.
EMAIL_STYLES: Mapping[str, str] = {
    "h1": "font-size:24px;line-height:1.35;margin:24px 0 12px;",
    "h2": "font-size:20px;line-height:1.4;margin:28px 0 12px;padding-bottom:6px;"
          "border-bottom:2px solid #d0d7de;",
    "h3": "font-size:17px;line-height:1.45;margin:22px 0 8px;",
    "p": "margin:0 0 12px;line-height:1.7;",
    "ul": "margin:0 0 12px;padding-left:22px;line-height:1.7;",
    "ol": "margin:0 0 12px;padding-left:22px;line-height:1.7;",
    "a": "color:#0b62c4;text-decoration:underline;word-break:break-all;",
    "blockquote": "margin:0 0 12px;padding-left:12px;border-left:3px solid #d0d7de;",
    "code": "font-family:Menlo,Consolas,monospace;font-size:90%;",
    "img": "max-width:100%;height:auto;",
}


@lru_cache(maxsize=1)
def parser() -> MarkdownIt:
    """CommonMark with tables and strikethrough; raw HTML in Markdown is escaped, not passed."""
    return MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable(
        ["table", "strikethrough"]
    )


def parse(markdown: str) -> list[Token]:
    """The block token stream (the AST in markdown-it's flat form)."""
    return parser().parse(markdown)


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
            token.attrSet("style", style)
        return str(super().renderToken(tokens, idx, options, env))

    def image(self, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType) -> str:
        style = self.styles.get("img")
        if style:
            tokens[idx].attrSet("style", style)
        return str(super().image(tokens, idx, options, env))


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


def sanitise(html: str) -> str:
    """Allow-list sanitising: no script, no event handlers, no javascript: URLs."""
    return str(
        nh3.clean(
            html,
            tags=ALLOWED_TAGS,
            attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
            url_schemes=SAFE_URL_SCHEMES,
            link_rel="noopener noreferrer",
            strip_comments=True,
        )
    )


def to_html(markdown: str, *, email: bool = False) -> str:
    """Render Markdown to sanitised HTML; `email=True` inlines the styles email clients need."""
    tokens = parse(markdown)
    _heading_ids(tokens)
    renderer = _StyledRenderer(EMAIL_STYLES if email else {})
    md = parser()
    html = renderer.render(tokens, md.options, {})
    return sanitise(html)


def walk_inline(tokens: list[Token]) -> list[Token]:
    """Flatten block tokens with their inline children, in document order."""
    flat: list[Token] = []
    for token in tokens:
        flat.append(token)
        if token.children:
            flat.extend(token.children)
    return flat


def attr(token: Token, name: str) -> str:
    value: Any = token.attrGet(name)
    return "" if value is None else str(value)
