"""Where things live on the site: one place for every public URL and output path.

Every path is plain ASCII (letters, digits, hyphens), so the same folder name works as a
URL on `publisher serve` and on any static host without percent-encoding.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

_PLAIN_SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
TAG_SLUG_BASE_MAX = 48


_LOCAL_HOSTS = re.compile(r"^(localhost|.*\.localhost|127(\.\d{1,3}){3}|0\.0\.0\.0|\[?::1?\]?)$")
# The host in an entry id: `tag:HOST,DATE:…` or `http(s)://HOST[:port]/…`.
_ID_HOST = re.compile(r"^(?:tag:([^,]+),|https?://(\[[^\]]*\]|[^/:]+))", re.IGNORECASE)


def is_local_host(host: str) -> bool:
    """Whether a host name is this machine (loopback, localhost): no public site lives there."""
    return bool(_LOCAL_HOSTS.match(host.strip().lower()))


def local_host_in_id(entry_id: str) -> str | None:
    """The loopback host an entry id was made from (`tag:127.0.0.1,…`), else None."""
    found = _ID_HOST.match(entry_id)
    host = (found.group(1) or found.group(2)) if found else None
    return host if host and is_local_host(host) else None


def language_path(language: str) -> str:
    """Where a translation's edition of the site lives: /en for English (a BCP 47 tag is
    letters, digits and hyphens, so the folder is plain too)."""
    return f"/{language}"


def issue_path(slug: str) -> str:
    return f"/issues/{slug}/"


def issue_url(base_url: str, slug: str) -> str:
    return base_url + issue_path(slug)


FEED_KINDS = ("atom", "rss", "json")
# A feed's subscription document, at the site root and in each tag's folder; its archive
# documents are feeds/archive-N.* (site.feeds)
FEED_FILES = {kind: f"feed.{kind}" for kind in FEED_KINDS}


def feed_url(base_url: str, kind: str = "atom") -> str:
    """Main feed URL; kind is one of FEED_KINDS."""
    if kind not in FEED_KINDS:
        raise ValueError(f"unknown feed kind {kind!r}")
    return f"{base_url}/{FEED_FILES[kind]}"


def tag_key(tag: str) -> str:
    """What makes two spellings one tag: Unicode-normalised, case-folded, spaces collapsed."""
    return " ".join(unicodedata.normalize("NFKC", tag).casefold().split())


def tag_slug(tag: str) -> str:
    """A tag's folder name: its key when that is already a plain slug (`llm`), else an ASCII
    transliteration (pinyin for Chinese) plus a hash of the key (`da-mo-xing-1a2b3c4d`).

    The hash keeps lossy transliterations apart (`C++` and `C#`, homophones) and depends on
    the tag alone, so a tag's URL never moves when other tags come and go.
    """
    key = tag_key(tag)
    if _PLAIN_SLUG.match(key):
        return key
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:8]
    base = re.sub(r"[^a-z0-9]+", "-", _ascii(key).lower()).strip("-")
    base = base[:TAG_SLUG_BASE_MAX].rstrip("-")
    return f"{base}-{digest}" if base else digest


def _ascii(text: str) -> str:
    if text.isascii():
        return text
    # Imported here: the dictionary takes a quarter of a second to load, and only a build
    # with non-ASCII tags needs it (mail and web processes import this module too).
    from pypinyin import lazy_pinyin

    spelled = " ".join(lazy_pinyin(text, errors="default"))  # Han -> syllables, rest kept
    return unicodedata.normalize("NFKD", spelled).encode("ascii", "ignore").decode("ascii")


def tag_path(tag: str) -> str:
    return f"/tags/{tag_slug(tag)}/"


def unsubscribe_url(base_url: str, token: str) -> str:
    return f"{base_url}/unsubscribe/{token}"


def confirm_url(base_url: str, token: str) -> str:
    return f"{base_url}/confirm/{token}"


def preferences_url(base_url: str, token: str) -> str:
    return f"{base_url}/preferences/{token}"


CLICK_PREFIX = "/l/"
# The pages of a reader's own links: a click counter must never stand in front of them.
READER_PREFIXES = ("/unsubscribe/", "/preferences/", "/confirm/", CLICK_PREFIX)


def click_url(base_url: str, token: str) -> str:
    """Where a counted link of an email points: `serve` counts the click and redirects."""
    return f"{base_url}{CLICK_PREFIX}{token}"

