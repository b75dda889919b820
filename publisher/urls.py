"""Where things live on the site: one place for every public URL and output path."""

from __future__ import annotations

from urllib.parse import quote


def issue_path(slug: str) -> str:
    return f"/issues/{slug}/"


def issue_url(base_url: str, slug: str) -> str:
    return base_url + issue_path(slug)


FEED_KINDS = ("atom", "rss", "json")


def feed_url(base_url: str, kind: str = "atom") -> str:
    """Main feed URL; kind is one of FEED_KINDS."""
    if kind not in FEED_KINDS:
        raise ValueError(f"unknown feed kind {kind!r}")
    return f"{base_url}/feed.{kind}"


def tag_path(tag: str) -> str:
    return f"/tags/{quote(tag, safe='')}/"


def unsubscribe_url(base_url: str, token: str) -> str:
    return f"{base_url}/unsubscribe/{token}"


def confirm_url(base_url: str, token: str) -> str:
    return f"{base_url}/confirm/{token}"


def preferences_url(base_url: str, token: str) -> str:
    return f"{base_url}/preferences/{token}"


def subscribe_url(base_url: str) -> str:
    return f"{base_url}/subscribe"
