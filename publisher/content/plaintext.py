"""The plain-text part, rendered from the Markdown AST (never by stripping HTML).

Paragraphs wrap at WIDTH display columns; CJK characters count two columns and may break
between any two of them, but never before closing punctuation or after opening punctuation.
Labelled links become `label [n]` with `[n] url` listed at the end; bare URLs stay inline.
Root-relative URLs are listed absolute (a mail client has no site to resolve them against),
and raw HTML keeps its words: `<br>` becomes a space, `<img>` its alt text and a reference.
A table becomes aligned columns (padded by display width, so CJK cells line up) when it fits
WIDTH, else one `header: value` line per cell, a blank line between rows.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from markdown_it.token import Token

from publisher.content.markup import RawTag, absolute_url, attr, parse, raw_html

WIDTH = 76
_LOOSE = "\x00"  # marks the end of a list so the next tight list starts a new block
NO_LINE_START = set("，。、：；！？）》」』】〕,.;:!?)]}%…—～·")
NO_LINE_END = set("（《「『【〔([{")
_CJK = "\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f"
_UNITS = re.compile(rf"\s+|[{_CJK}]|[^\s{_CJK}]+")


@lru_cache(maxsize=8192)
def _char_width(char: str) -> int:
    return 2 if unicodedata.east_asian_width(char) in "WF" else 1


def display_width(text: str) -> int:
    """Columns on a terminal: wide and full-width characters (CJK) take two."""
    return len(text) if text.isascii() else sum(map(_char_width, text))


def _units(text: str) -> list[str]:
    """Split into unbreakable units: a run of non-CJK non-space text, one CJK char, or space."""
    units: list[str] = []
    for unit in _UNITS.findall(text):
        if units and not unit.isspace() and unit[0] in NO_LINE_START and not units[-1].isspace():
            units[-1] += unit
        elif units and units[-1] and units[-1][-1] in NO_LINE_END and not unit.isspace():
            units[-1] += unit
        else:
            units.append(unit)
    return units


def wrap(text: str, width: int = WIDTH, indent: str = "", first_indent: str | None = None) -> str:
    """Wrap text by display width, CJK-aware; long unbreakable units (URLs) stay whole."""
    lead = indent if first_indent is None else first_indent
    lines: list[str] = []
    line, used = lead, display_width(lead)
    for unit in _units(" ".join(text.split()) if text.strip() else ""):
        if unit.isspace():
            if line.strip():
                line, used = line + " ", used + 1
            continue
        size = display_width(unit)
        if used + size > width and line.strip():
            lines.append(line.rstrip())
            line, used = indent, display_width(indent)
        line, used = line + unit, used + size
    if line.strip():
        lines.append(line.rstrip())
    return "\n".join(lines)


@dataclass
class _Links:
    base_url: str | None = None
    urls: list[str] = field(default_factory=list)

    def number(self, url: str) -> int:
        url = absolute_url(url, self.base_url)
        if url not in self.urls:
            self.urls.append(url)
        return self.urls.index(url) + 1


def _inline_text(children: list[Token], links: _Links) -> str:
    out: list[str] = []
    href_stack: list[tuple[str, int]] = []
    for child in children:
        if child.type == "text" or child.type == "code_inline":
            out.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            out.append(" ")
        elif child.type == "link_open":
            href_stack.append((attr(child, "href"), len(out)))
        elif child.type == "link_close" and href_stack:
            href, start = href_stack.pop()
            label = "".join(out[start:])
            if label.strip() != href:
                out.append(f" [{links.number(href)}]")
        elif child.type == "image":
            alt = child.content or attr(child, "alt")
            out.append(f"[{alt or 'image'}] [{links.number(attr(child, 'src'))}]")
        elif child.type == "html_inline":
            out.append(_raw_html_text(child.content, links))
    return "".join(out)


def _raw_html_text(fragment: str, links: _Links) -> str:
    """The words of raw HTML: text as is, a line break as a space, an image as its alt."""
    out: list[str] = []
    for item in raw_html(fragment):
        if isinstance(item, str):
            out.append(item)
        elif item.name == "br":
            out.append(" ")
        elif item.name == "img" and not item.closing:
            out.append(_image_text(item, links))
    return "".join(out)


def _image_text(tag: RawTag, links: _Links) -> str:
    return f"[{tag.attr('alt') or 'image'}] [{links.number(tag.attr('src'))}]"


def _heading(text: str, level: int) -> str:
    if level <= 2:
        underline = "=" if level == 1 else "-"
        return f"{text}\n{underline * min(WIDTH, display_width(text))}"
    return text


@dataclass(frozen=True)
class _Cell:
    text: str
    align: str  # left | right | center


def _table_rows(tokens: Sequence[Token], links: _Links) -> list[list[_Cell]]:
    """The rows of one table (its header first), each cell's text and alignment."""
    rows: list[list[_Cell]] = []
    align = "left"
    for token in tokens:
        if token.type == "tr_open":
            rows.append([])
        elif token.type in ("th_open", "td_open"):
            style = str(token.attrs.get("style", ""))
            align = style.removeprefix("text-align:") if style.startswith("text-align:") else "left"
        elif token.type == "inline" and rows:
            rows[-1].append(_Cell(" ".join(_inline_text(token.children or [], links).split()),
                                  align))
    return rows


def _pad(cell: _Cell, width: int) -> str:
    room = width - display_width(cell.text)
    if cell.align == "right":
        return " " * room + cell.text
    if cell.align == "center":
        return " " * (room // 2) + cell.text + " " * (room - room // 2)
    return cell.text + " " * room


def table_text(rows: list[list[_Cell]], width: int = WIDTH) -> str:
    """A table as aligned columns under a rule, or as `header: value` lines if too wide."""
    if not rows:
        return ""
    columns = max(len(row) for row in rows)
    rows = [row + [_Cell("", "left")] * (columns - len(row)) for row in rows]
    widths = [max(display_width(row[i].text) for row in rows) for i in range(columns)]
    if sum(widths) + 2 * (columns - 1) <= width:
        lines = ["  ".join(_pad(cell, widths[i]) for i, cell in enumerate(row)).rstrip()
                 for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join(lines)
    header, body = rows[0], rows[1:]
    return "\n\n".join(
        "\n".join(wrap(f"{label.text}: {cell.text}" if label.text else cell.text, width,
                        indent="  ", first_indent="")
                   for label, cell in zip(header, row, strict=True) if cell.text)
        for row in body)


def _tables_grouped(tokens: Sequence[Token]) -> list[Token | list[Token]]:
    """The token stream with each table's tokens gathered into one list."""
    grouped: list[Token | list[Token]] = []
    table: list[Token] | None = None
    for token in tokens:
        if token.type == "table_open":
            table = []
        if table is None:
            grouped.append(token)
            continue
        table.append(token)
        if token.type == "table_close":
            grouped.append(table)
            table = None
    return grouped


def render_blocks(tokens: Sequence[Token], links: _Links) -> list[str]:
    """Turn the block token stream into text blocks separated by blank lines."""
    blocks: list[str] = []
    list_stack: list[list[int]] = []  # each: [ordered?, next number]
    prefix_for_next = ""
    quote_depth = 0
    heading_level = 0
    tight = False
    for token in _tables_grouped(tokens):
        if isinstance(token, list):
            blocks.append(table_text(_table_rows(token, links)))
            continue
        kind = token.type
        if kind == "paragraph_open":
            tight = token.hidden
        elif kind == "heading_open":
            heading_level = int(token.tag[1])
        elif kind in ("bullet_list_open", "ordered_list_open"):
            start = int(token.attrGet("start") or 1)
            list_stack.append([1 if kind == "ordered_list_open" else 0, start])
            blocks.append(_LOOSE)
        elif kind in ("bullet_list_close", "ordered_list_close"):
            list_stack.pop()
            blocks.append(_LOOSE)
        elif kind == "list_item_open" and list_stack:
            ordered, number = list_stack[-1]
            prefix_for_next = f"{number}. " if ordered else "- "
            list_stack[-1][1] += 1
        elif kind == "blockquote_open":
            quote_depth += 1
        elif kind == "blockquote_close":
            quote_depth -= 1
        elif kind == "hr":
            blocks.append("-" * 20)
        elif kind in ("fence", "code_block"):
            blocks.append("\n".join("    " + ln for ln in token.content.rstrip("\n").split("\n")))
        elif kind == "html_block":
            blocks.append(wrap(_raw_html_text(token.content, links)))
        elif kind == "inline":
            text = _inline_text(token.children or [], links)
            if heading_level:
                blocks.append(_heading(text, heading_level))
                heading_level = 0
                continue
            depth = max(len(list_stack) - 1, 0)
            quote = "> " * quote_depth
            base = quote + "  " * depth
            if prefix_for_next:
                body = wrap(text, indent=base + " " * len(prefix_for_next),
                            first_indent=base + prefix_for_next)
                prefix_for_next = ""
            else:
                body = wrap(text, indent=base + ("  " if list_stack else ""))
            if tight and blocks and list_stack and not blocks[-1].endswith(_LOOSE):
                blocks[-1] += "\n" + body
            else:
                blocks.append(body)
            tight = False
    return blocks


def _join(blocks: list[str]) -> str:
    return "\n\n".join(block for block in blocks if block.strip() and block != _LOOSE)


def to_text(markdown: str, *, links_heading: str = "Links", base_url: str | None = None) -> str:
    """Render Markdown to wrapped plain text with numbered link references at the end;
    `base_url` makes root-relative URLs absolute."""
    links = _Links(base_url)
    text = _join(render_blocks(parse(markdown), links))
    if links.urls:
        refs = "\n".join(f"[{n}] {url}" for n, url in enumerate(links.urls, start=1))
        text += f"\n\n{links_heading}\n{'-' * display_width(links_heading)}\n{refs}"
    return text + "\n"
