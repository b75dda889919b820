"""The static web archive: index, one page per issue, tag pages, sitemap, stylesheet."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from xml.sax.saxutils import escape

import jinja2
from markupsafe import Markup

from publisher import urls
from publisher.config import Config
from publisher.feeds import Entry
from publisher.i18n import strings_for

STYLESHEET = "archive/style.css"


@dataclass(frozen=True)
class PageItem:
    """What a page shows of one issue."""

    title: str
    path: str
    url: str
    summary: str
    tags: tuple[str, ...]
    authors: tuple[str, ...]
    language: str
    source: str | None
    published_iso: str
    date_label: str


@lru_cache(maxsize=8)
def _environment(templates_dir: Path) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.globals["tag_path"] = urls.tag_path
    return env


def page_item(entry: Entry, source: str | None, config: Config) -> PageItem:
    local = entry.published.astimezone(config.site.zone)
    return PageItem(
        title=entry.title, path=urls.issue_path(entry.slug), url=entry.url,
        summary=entry.summary, tags=entry.tags, authors=entry.authors,
        language=entry.language, source=source, published_iso=local.isoformat(),
        date_label=local.strftime(strings_for(entry.language)["date_format"]),
    )


def _render(config: Config, template: str, **context: object) -> str:
    site = config.site
    env = _environment(config.templates_dir)
    defaults: dict[str, object] = {
        "site": site, "language": site.language, "t": strings_for(site.language), "root": "",
        "description": site.description}
    return env.get_template(template).render({**defaults, **context})


def issue_page(item: PageItem, content_html: str, config: Config) -> str:
    return _render(config, "archive/issue.html.j2", item=item, content=Markup(content_html),
                   t=strings_for(item.language), root=_root_for(item.path))


def _root_for(url_path: str) -> str:
    """Relative way back to the site root, so pages also work as plain files."""
    depth = len([part for part in url_path.split("/") if part])
    return "/".join([".."] * depth) if depth else "."


def index_page(items: list[PageItem], config: Config, heading: str | None = None,
               url_path: str = "/") -> str:
    t = strings_for(config.site.language)
    return _render(config, "archive/index.html.j2", items=items, heading=heading or t["issues"],
                   root=_root_for(url_path))


def tag_pages(items: list[PageItem], config: Config) -> dict[str, str]:
    """One listing page per tag, keyed by output path."""
    t = strings_for(config.site.language)
    pages = {}
    for tag in sorted({tag for item in items for tag in item.tags}):
        tagged = [item for item in items if tag in item.tags]
        pages[urls.tag_path(tag) + "index.html"] = index_page(
            tagged, config, heading=f"{t['tagged']} #{tag}", url_path=urls.tag_path(tag))
    return pages


def sitemap(items: Iterable[PageItem], config: Config) -> str:
    base = config.site.base_url
    rows = [f"<url><loc>{escape(base + '/')}</loc></url>"]
    rows += [f"<url><loc>{escape(item.url)}</loc><lastmod>{item.published_iso[:10]}</lastmod>"
             "</url>" for item in items]
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
            + "\n".join(rows) + "\n</urlset>\n")


def stylesheet(config: Config) -> str:
    return (config.templates_dir / STYLESHEET).read_text(encoding="utf-8")
