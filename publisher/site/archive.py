"""The static web archive: index, one page per issue, tag pages, sitemap, stylesheet.

A page speaks one language, chrome and dates alike: an issue page its issue's language, the
index and tag pages the site's (every date on a list is formatted in the list's language).
List pages show each tag in its site-wide spelling (`Tag.label`); an issue page shows the
issue's own, so it depends on nothing but its issue and the settings, and can be left alone
when those are. Tags that are topics readers choose (`[topics]`) show apart, with their label
in the page's language, linking to the same tag page; the footer's subscribe form offers them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from xml.sax.saxutils import escape

from markupsafe import Markup

from publisher import urls
from publisher.config import Config
from publisher.i18n import strings_for, topic_label
from publisher.site.feeds import Entry, Tag
from publisher.templating import date_label, environment, template_file

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
    published_local: datetime  # in the site's timezone

    def date_label(self, language: str) -> str:
        """The publication date as a reader of `language` writes it."""
        return date_label(self.published_local, language)


def page_item(entry: Entry, source: str | None, config: Config) -> PageItem:
    local = entry.published.astimezone(config.site.zone)
    spellings: dict[str, str] = {}
    for tag in entry.tags:  # `LLM` and `llm` in one issue are one tag: keep the first
        spellings.setdefault(urls.tag_key(tag), tag)
    return PageItem(
        title=entry.title, path=urls.issue_path(entry.slug), url=entry.url,
        summary=entry.summary, tags=tuple(spellings.values()), authors=entry.authors,
        language=entry.language, source=source, published_iso=local.isoformat(),
        published_local=local,
    )


Split = Callable[[PageItem], tuple[list[tuple[str, str]], list[str]]]


def _labels(config: Config, language: str) -> dict[str, str]:
    """Each declared topic's label in `language`, by tag key."""
    return {urls.tag_key(tag): topic_label(names, language)
            for tag, names in config.settings.topics.items()}


def _topic_split(config: Config, language: str) -> Split:
    """For a page in `language`: an item's tags that are topics, as (tag, label), and the
    rest of its tags."""
    labels = _labels(config, language)

    def split(item: PageItem) -> tuple[list[tuple[str, str]], list[str]]:
        topics = [(tag, labels[urls.tag_key(tag)]) for tag in item.tags
                  if urls.tag_key(tag) in labels]
        return topics, [tag for tag in item.tags if urls.tag_key(tag) not in labels]

    return split


def _render(config: Config, template: str, **context: object) -> str:
    site = config.site
    env = environment(config.templates_dir)
    language = str(context.get("language", site.language))
    defaults: dict[str, object] = {
        "site": site, "language": site.language, "t": strings_for(site.language), "root": "",
        "description": site.description, "split": _topic_split(config, language),
        "offered": [(tag, topic_label(names, language))
                    for tag, names in config.settings.topics.items()]}
    return env.get_template(template).render({**defaults, **context})


def issue_page(item: PageItem, content_html: str, config: Config) -> str:
    return _render(config, "archive/issue.html.j2", item=item, content=Markup(content_html),
                   language=item.language, t=strings_for(item.language),
                   root=_root_for(item.path))


def _root_for(url_path: str) -> str:
    """Relative way back to the site root, so pages also work as plain files."""
    depth = len([part for part in url_path.split("/") if part])
    return "/".join([".."] * depth) if depth else "."


def index_page(items: list[PageItem], tags: list[Tag], config: Config,
               tag: Tag | None = None) -> str:
    """The list of all issues, or (with `tag`) of one tag's, linking that tag's feeds."""
    t = strings_for(config.site.language)
    heading = f"{t['tagged']} #{tag.label}" if tag else t["issues"]
    return _render(config, "archive/index.html.j2", items=_labelled(items, tags),
                   heading=heading, tag=tag, root=_root_for(tag.path if tag else "/"))


def _labelled(items: list[PageItem], tags: list[Tag]) -> list[PageItem]:
    """Items whose tags are spelled as the site spells them."""
    label = {tag.key: tag.label for tag in tags}
    return [replace(item, tags=tuple(label.get(urls.tag_key(tag), tag) for tag in item.tags))
            for item in items]


def tag_pages(items: list[PageItem], tags: list[Tag], config: Config) -> dict[str, str]:
    """One listing page per tag, keyed by output path."""
    return {tag.path + "index.html": index_page(
                [item for item in items if tag.holds(item.tags)], tags, config, tag)
            for tag in tags}


def sitemap(items: Iterable[PageItem], config: Config) -> str:
    base = config.site.base_url
    rows = [f"<url><loc>{escape(base + '/')}</loc></url>"]
    rows += [f"<url><loc>{escape(item.url)}</loc><lastmod>{item.published_iso[:10]}</lastmod>"
             "</url>" for item in items]
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">\n'
            + "\n".join(rows) + "\n</urlset>\n")


def stylesheet(config: Config) -> str:
    return template_file(config.templates_dir, STYLESHEET).read_text(encoding="utf-8")
