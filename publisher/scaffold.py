"""The text of a new issue file, as `publisher new` writes it."""

from __future__ import annotations

import json
import re
import unicodedata
from datetime import datetime


def slugify(title: str) -> str:
    """ASCII slug from a title; falls back to 'issue' for titles with no ASCII letters."""
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    return slug[:60].rstrip("-") or "issue"


def new_issue_text(title: str, now: datetime, language: str, domain: str, slug: str) -> str:
    """Front matter with a permanent entry id (so later renames keep feed identities)."""
    stamp = now.replace(microsecond=0).isoformat()
    entry_id = f"tag:{domain},{now:%Y-%m-%d}:{slug}"
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
