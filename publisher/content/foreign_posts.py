"""Posts from another tool's archive into issue files (pure: a post in, a file's text out).

HTML is converted by markdownify (the maintained HTML -> Markdown library), after the
elements no issue can carry (embeds, video, audio, forms, scripts) are taken out and named,
so each file's report lists what was not kept. Remote images stay remote: `![alt](url)`.
The front matter keeps the post's title, date with its zone, subtitle as summary, tags, and
an `id` that is the old URL, so feed readers do not see old posts as new.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import lxml.html
import yaml
from markdownify import markdownify

from publisher.content.issues import SLUG
from publisher.errors import PublisherError

NOT_KEPT = ("iframe", "video", "audio", "script", "style", "form", "input", "button",
            "svg", "canvas", "object", "embed")  # nothing an email or the archive can play


@dataclass(frozen=True)
class Post:
    """One post as its tool exported it: HTML (Substack, beehiiv) or Markdown (Buttondown)."""

    where: str  # the file (and line) it came from, for the report
    slug: str
    title: str
    date: datetime
    summary: str = ""
    tags: tuple[str, ...] = ()
    old_url: str | None = None
    html: str | None = None
    markdown: str | None = None
    draft: bool = False


@dataclass(frozen=True)
class IssueFile:
    """A converted post: its file name, text, and what the conversion could not keep."""

    name: str
    text: str
    not_kept: tuple[str, ...]


def tool_time(column: str, text: str) -> datetime:
    """A tool's time: ISO 8601 or `YYYY-MM-DD HH:MM:SS` (` UTC`, `Z`); without a zone, UTC."""
    cleaned = text.strip().removesuffix(" UTC").removesuffix("Z")
    try:
        value = datetime.fromisoformat(cleaned)
    except ValueError as exc:
        raise PublisherError(f"{column}: {text!r} is not a date and time") from exc
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def issue_slug(text: str) -> str:
    """The tool's slug as ours: lower-case letters, digits and hyphens."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    assert not slug or SLUG.match(slug)
    return slug or "post"


def html_to_markdown(html: str) -> tuple[str, tuple[str, ...]]:
    """Markdown for a post's HTML, and the elements taken out (`iframe https://…`)."""
    if not html.strip():
        return "", ()
    root = lxml.html.fragment_fromstring(html, create_parent="div")
    lost: list[str] = []
    for element in list(root.iter(*NOT_KEPT)):
        where = element.get("src") or element.get("data") or element.get("action") or ""
        lost.append(f"{element.tag} {where}".strip())
        element.drop_tree()
    for image in root.iter("img"):
        if not (image.get("src") or "").startswith("https://"):
            lost.append(f"img {image.get('src') or ''} (not an https:// image)".strip())
            image.drop_tree()
    cleaned = lxml.html.tostring(root, encoding="unicode")
    text = markdownify(cleaned, heading_style="ATX", bullets="-", strip=["div", "span"])
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n", tuple(lost)


def issue_file(post: Post) -> IssueFile:
    """The issue file for a post: front matter our schema reads, then the Markdown body."""
    if post.html is not None:
        body, lost = html_to_markdown(post.html)
    else:
        body, lost = (post.markdown or "").strip() + "\n", ()
    meta: dict[str, object] = {"title": post.title.strip() or post.slug,
                               "date": post.date.isoformat()}
    if post.summary.strip():
        meta["summary"] = " ".join(post.summary.split())
    if post.tags:
        meta["tags"] = list(post.tags)
    if post.old_url:
        meta["source"] = post.old_url
        meta["id"] = post.old_url
    if post.draft:
        meta["draft"] = True
    front = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False, width=1000)
    return IssueFile(f"{issue_slug(post.slug)}.md", f"---\n{front}---\n\n{body}", lost)
