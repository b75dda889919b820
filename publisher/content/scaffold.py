"""The text and the file name of a new issue, as `publisher new` writes them.

A slug says what the title says: Chinese characters are transliterated to pinyin, other
letters lose their accents, and a name already taken gets a counter, never a collision.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable
from datetime import datetime

SLUG_MAX = 60


def slugify(title: str) -> str:
    """ASCII slug from a title (Chinese as toneless pinyin); 'issue' when nothing is left."""
    # Imported here, as in urls: the dictionary takes over a second to load, and every
    # `publisher` command imports this module, though only `publisher new` makes a slug.
    from pypinyin import lazy_pinyin

    spelled = "-".join(lazy_pinyin(title))
    ascii_title = unicodedata.normalize("NFKD", spelled).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    if len(slug) > SLUG_MAX:
        cut = slug[: SLUG_MAX + 1]
        slug = cut[: cut.rfind("-")] if "-" in cut else slug[:SLUG_MAX]
    return slug or "issue"


def free_stem(stem: str, taken: Callable[[str], bool]) -> str:
    """`stem`, or `stem-2`, `stem-3`, … : the first one that is not taken."""
    candidate, counter = stem, 1
    while taken(candidate):
        counter += 1
        candidate = f"{stem}-{counter}"
    return candidate


def new_entry_id(domain: str, now: datetime, slug: str) -> str:
    """The permanent feed id `publisher new` writes into an issue."""
    return f"tag:{domain},{now:%Y-%m-%d}:{slug}"


def new_issue_text(title: str, now: datetime, language: str, domain: str, slug: str) -> str:
    """Front matter with a permanent entry id (so later renames keep feed identities)."""
    stamp = now.replace(microsecond=0).isoformat()
    entry_id = new_entry_id(domain, now, slug)
    return (
        "---\n"
        f"title: {json.dumps(title, ensure_ascii=False)}\n"
        f"date: {stamp}\n"
        'summary: ""\n'
        "tags: []\n"
        "authors: []\n"
        f"language: {language}\n"
        "draft: true\n"
        f"id: {json.dumps(entry_id)}\n"
        "---\n\n"
        "Write the introduction here.\n\n"
        "## First section\n\n"
        "Write the first section here.\n"
    )
