"""Atom 1.0 and RSS 2.0 (feedgen) and JSON Feed 1.1 from published issues.

Feeds are a pure function of the entries: the feed's `updated` is the newest entry's, never
the build time, so rebuilding unchanged content gives byte-identical files. The main feed and
each tag's feed hold the newest `page_size` entries and link their archive (RFC 5005 archived
feeds): archive documents of `page_size` entries each, numbered from the oldest, so that an
archive document never changes once full and a new issue rewrites only the feeds' newest
documents. Spellings of a tag that differ only in case are one tag (`Tag`), on one path. Each
language edition of the site has its own set under its prefix (/en/feed.atom), in its
language (Atom xml:lang, RSS <language>, JSON Feed `language`).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from feedgen.ext.base import BaseExtension
from feedgen.feed import FeedGenerator
from lxml import etree

from publisher import __version__, urls
from publisher.config import Config
from publisher.errors import PublisherError

GENERATOR = "publisher"
ATOM_NS = "http://www.w3.org/2005/Atom"
HISTORY_NS = "http://purl.org/syndication/history/1.0"  # RFC 5005
CONTENT_TYPES = {
    "atom": "application/atom+xml",
    "rss": "application/rss+xml",
    "json": "application/feed+json",
}


@dataclass(frozen=True)
class Entry:
    """One issue as a feed entry; content is sanitised HTML with absolute URLs."""

    id: str
    slug: str
    title: str
    url: str
    summary: str
    content_html: str
    authors: tuple[str, ...]
    tags: tuple[str, ...]
    language: str
    published: datetime
    updated: datetime


@dataclass(frozen=True)
class Tag:
    """One tag of the site: every spelling with the same `urls.tag_key` is this tag."""

    key: str
    label: str  # the spelling used most; on a tie, the one of the earliest issue
    path: str

    def holds(self, tags: tuple[str, ...]) -> bool:
        return any(urls.tag_key(tag) == self.key for tag in tags)


def site_tags(entries: list[Entry]) -> list[Tag]:
    """The tags of these entries, by key; two tags on one path is an error, never a merge."""
    spellings: dict[str, Counter[str]] = {}
    for entry in sorted(entries, key=lambda e: (e.published, e.id)):
        for tag in dict.fromkeys(entry.tags):
            spellings.setdefault(urls.tag_key(tag), Counter())[tag] += 1
    tags: list[Tag] = []
    on_path: dict[str, str] = {}
    for key in sorted(spellings):
        label = spellings[key].most_common(1)[0][0]  # ties keep insertion order: earliest
        path = urls.tag_path(label)
        if path in on_path:
            raise PublisherError(f"tags {on_path[path]!r} and {label!r} would share {path}; "
                                 "rename one of them")
        on_path[path] = label
        tags.append(Tag(key, label, path))
    return tags


@dataclass(frozen=True)
class FeedMeta:
    """What one document of a feed (main or a tag's: its subscription document or one of its
    archive documents) says about itself. An archive document's meta stays the same while its
    entries do, until a newer archive document appears beside it."""

    title: str
    subtitle: str
    language: str
    home_url: str
    base_path: str  # "" for the main feed, "/tags/<tag>" for a tag feed
    icon: str | None
    hub: str | None
    archive: int  # 0: the subscription document; N: archive document N (1 is the oldest)
    older: int  # the archive document before this one ("prev-archive"), 0 if none
    newer: int  # the archive document after this one ("next-archive"), 0 if none


_RELATIVE_ATTR = re.compile(r'\b(href|src)="(?!https?:|mailto:|#|data:)/?([^"]*)"')


def absolutize(html: str, base_url: str) -> str:
    """Make relative href/src URLs absolute against the site's base URL."""
    return _RELATIVE_ATTR.sub(lambda m: f'{m.group(1)}="{base_url}/{m.group(2)}"', html)


def feed_path(base_path: str, kind: str, archive: int = 0) -> str:
    """Path of a feed document: /feed.atom for the subscription document (archive 0),
    /feeds/archive-1.atom for the oldest archive document."""
    if archive == 0:
        return f"{base_path}/{urls.FEED_FILES[kind]}"
    return f"{base_path}/feeds/archive-{archive}.{kind}"


def documents_of(entries: list[Entry], page_size: int) -> list[list[Entry]]:
    """The subscription document's entries (the newest `page_size`), then each archive
    document's: every full run of `page_size` entries counted from the oldest (the newest
    entries, fewer than a run, are in the subscription document alone). Each newest first."""
    ordered = sorted(entries, key=lambda e: (e.published, e.id))
    runs = [ordered[i : i + page_size] for i in range(0, len(ordered) - page_size + 1, page_size)]
    return [ordered[::-1][:page_size], *(run[::-1] for run in runs)]


def newest_update(entries: list[Entry], fallback: datetime) -> datetime:
    return max((e.updated for e in entries), default=fallback)


def _archive_links(meta: FeedMeta, base_url: str, kind: str) -> list[tuple[str, str]]:
    """RFC 5005's links: to the subscription document ("current"), the older archive document
    ("prev-archive") and the newer ("next-archive")."""
    links = [("current", 0)] if meta.archive else []
    links += [("prev-archive", meta.older)] if meta.older else []
    links += [("next-archive", meta.newer)] if meta.newer else []
    return [(rel, base_url + feed_path(meta.base_path, kind, number)) for rel, number in links]


class _History(BaseExtension):  # type: ignore[misc]
    """feedgen extension: RFC 5005's <fh:archive/> marks an archive document."""

    def extend_ns(self) -> dict[str, str]:
        return {"fh": HISTORY_NS}

    def extend_atom(self, feed: etree._Element) -> etree._Element:
        etree.SubElement(feed, f"{{{HISTORY_NS}}}archive")
        return feed

    def extend_rss(self, feed: etree._Element) -> etree._Element:
        etree.SubElement(feed[0], f"{{{HISTORY_NS}}}archive")
        return feed


def _generator(meta: FeedMeta, entries: list[Entry], base_url: str, kind: str,
               epoch: datetime) -> FeedGenerator:
    fg = FeedGenerator()
    fg.load_extension("dc", atom=False, rss=True)
    if meta.archive:
        fg.register_extension("history", _History, None)
    self_url = base_url + feed_path(meta.base_path, kind, meta.archive)
    fg.id(self_url if meta.archive or meta.base_path else base_url + "/")
    fg.title(meta.title)
    fg.subtitle(meta.subtitle or meta.title)
    fg.language(meta.language)
    fg.author({"name": meta.title})
    fg.generator(GENERATOR, version=__version__, uri="https://pypi.org/project/publisher/")
    fg.link(href=self_url, rel="self", type=CONTENT_TYPES[kind])
    for rel, href in _archive_links(meta, base_url, kind):
        fg.link(href=href, rel=rel, type=CONTENT_TYPES[kind])
    if meta.hub:
        fg.link(href=meta.hub, rel="hub")
    fg.link(href=meta.home_url, rel="alternate", type="text/html")  # last: RSS <link>
    if meta.icon:
        fg.icon(meta.icon)
        fg.logo(meta.icon)
    fg.updated(newest_update(entries, epoch))
    for entry in reversed(entries):  # feedgen prepends; keep newest first in the output
        _add_entry(fg, entry)
    return fg


def _add_entry(fg: FeedGenerator, entry: Entry) -> None:
    fe = fg.add_entry()
    fe.id(entry.id)
    fe.guid(entry.id, permalink=False)
    fe.title(entry.title)
    fe.link(href=entry.url, rel="alternate", type="text/html")
    fe.published(entry.published)
    fe.updated(entry.updated)
    fe.pubDate(entry.published)
    for name in entry.authors:
        fe.author({"name": name})
    for tag in entry.tags:
        fe.category(term=tag, label=tag)
    fe.summary(entry.summary or entry.title)
    fe.content(entry.content_html, type="html")
    fe.dc.dc_language(entry.language)
    if entry.authors:  # RSS <author> needs an email address; dc:creator carries names
        fe.dc.dc_creator(list(entry.authors))


def atom_bytes(meta: FeedMeta, entries: list[Entry], base_url: str, epoch: datetime) -> bytes:
    fg = _generator(meta, entries, base_url, "atom", epoch)
    return bytes(fg.atom_str(pretty=True))


def rss_bytes(meta: FeedMeta, entries: list[Entry], base_url: str, epoch: datetime) -> bytes:
    """RSS 2.0 with content:encoded; archive and hub links added as atom:link elements."""
    fg = _generator(meta, entries, base_url, "rss", epoch)
    fg.lastBuildDate(newest_update(entries, epoch))
    # Parsed once, the links added, printed once: as feedgen's own pretty print would, but
    # with CDATA sections as escaped text (lxml's parser strips them).
    root = etree.fromstring(bytes(fg.rss_str(pretty=False)),
                            etree.XMLParser(remove_blank_text=True))
    extra = _archive_links(meta, base_url, "rss") + ([("hub", meta.hub)] if meta.hub else [])
    channel = root.find("channel")
    assert channel is not None
    for rel, href in extra:
        etree.SubElement(channel, f"{{{ATOM_NS}}}link", href=href, rel=rel)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def json_bytes(meta: FeedMeta, entries: list[Entry], base_url: str) -> bytes:
    """JSON Feed 1.1."""
    feed: dict[str, Any] = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": meta.title,
        "home_page_url": meta.home_url,
        "feed_url": base_url + feed_path(meta.base_path, "json", meta.archive),
        "description": meta.subtitle or meta.title,
        "language": meta.language,
        "authors": [{"name": meta.title}],
    }
    if meta.icon:
        feed["icon"] = meta.icon
    if meta.older:  # JSON Feed's one paging link: the next older entries
        feed["next_url"] = base_url + feed_path(meta.base_path, "json", meta.older)
    if meta.hub:
        feed["hubs"] = [{"type": "WebSub", "url": meta.hub}]
    feed["items"] = [_json_item(entry) for entry in entries]
    return (json.dumps(feed, ensure_ascii=False, indent=2) + "\n").encode("utf-8")


def _json_item(entry: Entry) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": entry.id,
        "url": entry.url,
        "title": entry.title,
        "content_html": entry.content_html,
        "summary": entry.summary,
        "date_published": entry.published.isoformat(),
        "date_modified": entry.updated.isoformat(),
        "language": entry.language,
    }
    if entry.authors:
        item["authors"] = [{"name": name} for name in entry.authors]
    if entry.tags:
        item["tags"] = list(entry.tags)
    return item


@dataclass(frozen=True)
class FeedPage:
    """One document of one feed (main or a tag's), which is written in all three formats."""

    meta: FeedMeta
    entries: list[Entry]

    @property
    def paths(self) -> list[str]:
        return [feed_path(self.meta.base_path, kind, self.meta.archive)
                for kind in urls.FEED_KINDS]


def render_feed_set(meta: FeedMeta, entries: list[Entry], base_url: str,
                    epoch: datetime) -> dict[str, bytes]:
    """All three formats of one feed document, keyed by output path."""
    return {
        feed_path(meta.base_path, "atom", meta.archive): atom_bytes(meta, entries, base_url,
                                                                    epoch),
        feed_path(meta.base_path, "rss", meta.archive): rss_bytes(meta, entries, base_url, epoch),
        feed_path(meta.base_path, "json", meta.archive): json_bytes(meta, entries, base_url),
    }


def feed_pages(entries: list[Entry], tags: list[Tag], config: Config, prefix: str = "",
               language: str | None = None) -> list[FeedPage]:
    """Every document of the main feed and of one feed per tag, each archived alike (render
    each with `render_feed_set`); a translation's edition has them under its `prefix` ("/en"),
    in its `language`."""
    site = config.site
    language = language or site.language
    pages = _paged_feed(site.title, prefix, entries, config, language)
    for tag in tags:
        tagged = [entry for entry in entries if tag.holds(entry.tags)]
        pages += _paged_feed(f"{site.title} · {tag.label}", prefix + tag.path.rstrip("/"),
                             tagged, config, language)
    return pages


def _paged_feed(title: str, base_path: str, entries: list[Entry], config: Config,
                language: str) -> list[FeedPage]:
    """Every document of one feed (`base_path` "" for the main feed): the subscription
    document, then the archive documents, oldest first."""
    site, feeds = config.site, config.settings.feeds
    current, *archives = documents_of(entries, feeds.page_size)
    last = len(archives)

    def meta(archive: int, older: int, newer: int) -> FeedMeta:
        return FeedMeta(title, site.description, language, f"{site.base_url}{base_path}/",
                        base_path, site.icon, feeds.websub_hub, archive, older, newer)

    return [FeedPage(meta(0, last, 0), current),
            *(FeedPage(meta(number, number - 1, number + 1 if number < last else 0), run)
              for number, run in enumerate(archives, start=1))]
