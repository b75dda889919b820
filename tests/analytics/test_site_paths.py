"""Which paths are counted: the site's feeds (pages, tags, translations) and its issue pages,
nothing else."""

from __future__ import annotations

import pytest

from publisher.analytics.site_paths import feed_of, issue_page_of


@pytest.mark.parametrize(("path", "feed"), [
    ("/feed.atom", "/feed.atom"), ("/feed.rss?utm=x", "/feed.rss"), ("//feed.json", "/feed.json"),
    ("/tags/llm/feed.atom", "/tags/llm/feed.atom"), ("/en/feed.atom", "/en/feed.atom"),
    ("/feeds/archive-2.atom", "/feeds/archive-2.atom"),
    ("/tags/llm/feeds/archive-1.json", "/tags/llm/feeds/archive-1.json"),
    ("/feeds/page-2.atom", None), ("/feed.xml", None), ("/", None),
    ("/issues/first/", None), ("/style.css", None),
])
def test_feeds_are_known_by_their_paths(path: str, feed: str | None) -> None:
    assert feed_of(path) == feed


@pytest.mark.parametrize(("path", "page"), [
    ("/issues/2024-06-first-half/", "/issues/2024-06-first-half/"),
    ("/issues/2024-06-first-half/index.html", "/issues/2024-06-first-half/"),
    ("/en/issues/first/", "/en/issues/first/"), ("/issues/first/email.html", None),
    ("/issues/", None), ("/tags/llm/", None), ("/", None),
])
def test_issue_pages_are_known_by_their_paths(path: str, page: str | None) -> None:
    assert issue_page_of(path) == page
