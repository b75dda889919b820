"""The static web archive: index, one page per issue, tag pages, sitemap, stylesheet, icon.

A page speaks one language, chrome and dates alike: an issue page its issue's language, the
index and tag pages the site's (every date on a list is formatted in the list's language).
List pages show each tag in its site-wide spelling (`Tag.label`); an issue page shows the
issue's own, so it depends on nothing but its issue and the settings, and can be left alone
when those are. Tags that are topics readers choose (`[topics]`) show apart, with their label
in the page's language, linking to the same tag page; the footer's subscribe form offers them.

Each language of the site is an `Edition`: the default's pages at the root (their URLs never
change), each other's under /<tag>/, listing only the issues translated into it (as Hugo
does). A page that exists in more than one edition links each variant with
`<link rel="alternate" hreflang>` (and x-default: the default edition's) and shows a small
language switcher; a page with no variant carries neither, so a site without translations
builds exactly as before. Nothing here picks a language for the reader.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from xml.sax.saxutils import escape

from markupsafe import Markup

from publisher import urls
from publisher.config import Config
from publisher.i18n import topic_label, translator_for
from publisher.site.feeds import Entry, Tag
from publisher.templating import date_label, environment, template_file

STYLESHEET = "archive/style.css"
# What the language switcher calls a language: its own name for itself (an autonym), by
# tag, then by primary subtag; an unknown tag shows as itself.
AUTONYMS = {
    "en": "English", "zh": "中文", "zh-CN": "简体中文", "zh-Hans": "简体中文",
    "zh-TW": "繁體中文", "zh-Hant": "繁體中文", "ja": "日本語", "ko": "한국어", "de": "Deutsch",
    "fr": "Français", "es": "Español", "it": "Italiano", "pt": "Português", "ru": "Русский",
}
# The site's icon: shipped in the templates folder, copied to the root of the built site and
# served there by `publisher serve` even before a build; pages and the console link it.
FAVICON = "favicon.ico"


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


def language_name(language: str) -> str:
    """How the switcher names a language: in that language."""
    return AUTONYMS.get(language) or AUTONYMS.get(language.split("-", 1)[0], language)


@dataclass(frozen=True)
class Edition:
    """One language's archive: the site's language at the root, any other under /<tag>."""

    language: str
    prefix: str  # "" for the site's language, "/<tag>" for another


@dataclass(frozen=True)
class Alternate:
    """One variant of a page, for hreflang links and the language switcher."""

    language: str
    url: str
    current: bool = False

    @property
    def name(self) -> str:
        return language_name(self.language)


def alternates(variants: dict[str, str], current: str) -> list[Alternate]:
    """The variants of a page (language -> absolute URL) as the page links them; none when
    the page has no other variant. The first is the x-default."""
    if len(variants) < 2:
        return []
    return [Alternate(language, url, language == current) for language, url in variants.items()]


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
    root = str(context.get("root", ""))
    prefix = str(context.pop("prefix", ""))
    defaults: dict[str, object] = {
        "site": site, "language": site.language, "root": root,
        "home": root + prefix, "feeds": site.base_url + prefix, "alternates": [],
        "description": site.description, "split": _topic_split(config, language),
        "offered": [(tag, topic_label(names, language))
                    for tag, names in config.settings.topics.items()]}
    # the chrome is in the page's language: the issue's, or the edition's
    return env.get_template(template).render(
        {**defaults, **translator_for(language).template_functions(), **context})


def issue_page(item: PageItem, content_html: str, config: Config,
               edition: Edition | None = None, variants: list[Alternate] | None = None) -> str:
    """An issue's page; in a translation's edition, its chrome is in the edition's language."""
    prefix = edition.prefix if edition else ""
    return _render(config, "archive/issue.html.j2", item=item, content=Markup(content_html),
                   language=item.language,
                   root=_root_for(prefix + item.path), prefix=prefix, alternates=variants or [])


def _root_for(url_path: str) -> str:
    """Relative way back to the site root, so pages also work as plain files."""
    depth = len([part for part in url_path.split("/") if part])
    return "/".join([".."] * depth) if depth else "."


def index_page(items: list[PageItem], tags: list[Tag], config: Config,
               tag: Tag | None = None, edition: Edition | None = None,
               variants: list[Alternate] | None = None) -> str:
    """The list of an edition's issues, or (with `tag`) of one tag's, linking its feeds."""
    language, prefix = (edition.language, edition.prefix) if edition else (
        config.site.language, "")
    _ = translator_for(language).gettext
    heading = _("Issues tagged") + f" #{tag.label}" if tag else _("Issues")
    extra: dict[str, object] = {"language": language} if edition else {}
    return _render(config, "archive/index.html.j2", items=_labelled(items, tags),
                   heading=heading, tag=tag, root=_root_for(prefix + (tag.path if tag else "/")),
                   prefix=prefix, alternates=variants or [], **extra)


def _labelled(items: list[PageItem], tags: list[Tag]) -> list[PageItem]:
    """Items whose tags are spelled as the site spells them."""
    label = {tag.key: tag.label for tag in tags}
    return [replace(item, tags=tuple(label.get(urls.tag_key(tag), tag) for tag in item.tags))
            for item in items]


SITEMAP_NS = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
XHTML_NS = 'xmlns:xhtml="http://www.w3.org/1999/xhtml"'


def sitemap(items: Iterable[PageItem], config: Config,
            variants: Callable[[str], list[Alternate]] | None = None,
            homes: Iterable[str] = ("",)) -> str:
    """Every edition's home (`homes`: their prefixes) and every issue page; with
    `variants` (a page's alternates by its absolute URL), each page that has some lists
    them all as xhtml:link, itself and x-default included."""
    base = config.site.base_url
    urls_and_days: list[tuple[str, str | None]] = [(f"{base}{home}/", None) for home in homes]
    urls_and_days += [(item.url, item.published_iso[:10]) for item in items]
    rows = [_sitemap_row(url, day, variants(url) if variants else [])
            for url, day in urls_and_days]
    namespaces = SITEMAP_NS + (f" {XHTML_NS}" if any("xhtml:" in row for row in rows) else "")
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<urlset {namespaces}>\n" + "\n".join(rows) + "\n</urlset>\n")


def _sitemap_row(url: str, day: str | None, variants: list[Alternate]) -> str:
    lastmod = f"<lastmod>{day}</lastmod>" if day else ""
    links = "".join(f'<xhtml:link rel="alternate" hreflang="{escape(a.language)}" '
                    f'href="{escape(a.url)}"/>' for a in variants)
    if variants:
        links += (f'<xhtml:link rel="alternate" hreflang="x-default" '
                  f'href="{escape(variants[0].url)}"/>')
    return f"<url><loc>{escape(url)}</loc>{lastmod}{links}</url>"


def stylesheet(config: Config) -> str:
    return template_file(config.templates_dir, STYLESHEET).read_text(encoding="utf-8")


def favicon_file(config: Config) -> Path:
    """The site's icon: its templates folder's, else the one publisher ships."""
    return template_file(config.templates_dir, FAVICON)
