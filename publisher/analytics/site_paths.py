"""Which URL paths of the site are counted: its feeds and its issue pages. Pure functions.

A feed is a feed file of the site, its tags or its translations (`/feed.atom`,
`/tags/llm/feed.rss`, `/en/feed.json`, archive documents `/feeds/archive-2.atom`); an issue page is
`/issues/<slug>/` (or its `index.html`), under a translation's `/<tag>/` too. The paths are
publisher.urls'; anything else (the home page, tag pages, styles) is not counted.
"""

from __future__ import annotations

import re
from urllib.parse import unquote

from publisher.urls import FEED_KINDS

_KINDS = "|".join(FEED_KINDS)
_PREFIX = r"(?:/[A-Za-z0-9-]{1,35})?"  # a translation's /<BCP 47 tag>
_FEED = re.compile(
    rf"^{_PREFIX}(?:/tags/[a-z0-9-]+)?(?:/feed|/feeds/archive-\d{{1,6}})\.(?:{_KINDS})$")
_ISSUE_PAGE = re.compile(rf"^({_PREFIX}/issues/[a-z0-9]+(?:-[a-z0-9]+)*/)(?:index\.html)?$")


def request_path(target: str) -> str:
    """The decoded path of a request target, without its query or fragment, single slashes."""
    path = unquote(target.split("?", 1)[0].split("#", 1)[0])
    return "/" + "/".join(part for part in path.split("/") if part) + (
        "/" if path.endswith("/") and path.strip("/") else "")


def feed_of(path: str) -> str | None:
    """The feed a path is (itself, as served), or None."""
    path = request_path(path)
    return path if _FEED.match(path) else None


def issue_page_of(path: str) -> str | None:
    """The issue page a path shows (`/issues/<slug>/`, with its language prefix), or None."""
    found = _ISSUE_PAGE.match(request_path(path))
    return found.group(1) if found else None
