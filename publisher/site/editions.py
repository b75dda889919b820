"""A site's editions, one per language: which issues each lists and which pages it has,
so that a page can link its variants in the other editions.

The site's language is the edition at the root, listing every published original; each
other language of `[site] languages` with a published translation is an edition under
/<lang>/ listing its translations only (an untranslated issue is not in it, as in Hugo).
"""

from __future__ import annotations

from dataclasses import dataclass

from publisher import urls
from publisher.config import Config
from publisher.content.issues import Issue
from publisher.site.archive import Alternate, Edition, PageItem, alternates, page_item
from publisher.site.feeds import Entry, Tag, site_tags


def cache_key(issue: Issue) -> str:
    """A variant's name in the build cache: its slug, and `.<lang>` for a translation."""
    return issue.slug if issue.translation_of is None else f"{issue.slug}.{issue.language}"


def edition_prefix(issue: Issue) -> str:
    """"" for an original, /<lang> for a translation: where its edition of the site lives."""
    return "" if issue.translation_of is None else urls.language_path(issue.language)


class Pages:
    """Which page paths ("/", "/issues/<slug>/", "/tags/<tag>/") each edition has, so a page
    can link its variants in the other editions (the site's language first: x-default)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.editions: dict[str, tuple[Edition, set[str]]] = {}
        self.by_url: dict[str, tuple[str, str]] = {}  # absolute URL -> (language, path)

    def add(self, edition: Edition, paths: list[str]) -> None:
        self.editions[edition.language] = (edition, set(paths))
        for path in paths:
            self.by_url[self.base_url + edition.prefix + path] = (edition.language, path)

    def of(self, path: str, current: str) -> list[Alternate]:
        return alternates({language: self.base_url + edition.prefix + path
                           for language, (edition, paths) in self.editions.items()
                           if path in paths}, current)

    def of_url(self, url: str) -> list[Alternate]:
        language, path = self.by_url.get(url, ("", ""))
        return self.of(path, language) if path else []


@dataclass(frozen=True)
class Listing:
    """One edition's entries with what its pages show of them, newest first."""

    edition: Edition
    entries: list[Entry]
    items: list[PageItem]
    tags: list[Tag]

    @property
    def paths(self) -> list[str]:
        return ["/", *(item.path for item in self.items), *(tag.path for tag in self.tags)]


def listing(edition: Edition, entries: list[Entry], sources: list[str | None],
             config: Config) -> Listing:
    items = [page_item(entry, source, config)
             for entry, source in zip(entries, sources, strict=True)]
    return Listing(edition, entries, items, site_tags(entries))


def site_editions(published: list[Issue], contents: dict[str, Entry],
              config: Config) -> list[Listing]:
    """The site's language's edition (every published original), then one per other
    language with any published translation, holding those translations only."""
    site = config.site
    listings = [listing(Edition(site.language, ""), [contents[cache_key(i)] for i in published],
                         [issue.meta.source for issue in published], config)]
    for language in site.languages:
        translated = [issue.translations[language] for issue in published
                      if language in issue.translations]
        if translated and language != site.language:
            edition = Edition(language, urls.language_path(language))
            listings.append(listing(edition, [contents[cache_key(t)] for t in translated],
                                     [t.meta.source for t in translated], config))
    return listings
