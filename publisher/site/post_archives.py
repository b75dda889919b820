"""Other tools' post archives read, and written out as one folder of issue files.

Recognised from file names and header rows: Substack's zip (`posts.csv` with `post_id`, and
`posts/<post_id>.html`), Buttondown's archive (`emails.csv` with `subject` and `slug`, and
`emails/<slug>.md`) and beehiiv's posts CSV (a `content_html` column). The folder holds
`issues/<slug>.md` per post and `nginx-redirects.map` (old path -> new path, for an nginx
`map`); an existing file with other content is never overwritten.
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from publisher.content.foreign_posts import IssueFile, Post, issue_file, issue_slug, tool_time
from publisher.errors import PublisherError
from publisher.urls import issue_path

REDIRECTS = "nginx-redirects.map"
Members = dict[str, Callable[[], bytes]]  # file name in the archive -> its bytes


@dataclass
class Archive:
    """The posts found, the CSVs that listed them, and the posts that cannot be taken."""

    posts: list[Post] = field(default_factory=list)
    lists: set[str] = field(default_factory=set)
    problems: list[tuple[str, int, str]] = field(default_factory=list)


def _members(path: Path) -> Members:
    if not zipfile.is_zipfile(path):
        return {path.name: path.read_bytes}
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if not n.startswith("__MACOSX/")]

    def reader(name: str) -> Callable[[], bytes]:
        def read() -> bytes:
            with zipfile.ZipFile(path) as archive:
                return archive.read(name)
        return read
    return {name: reader(name) for name in names}


def _rows(text: str) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        yield start, {(k or "").strip().lower(): (v or "") for k, v in row.items()}


def read_archive(path: Path, old_url: str | None = None) -> Archive:
    """The posts of a Substack, Buttondown or beehiiv export (none if it has no posts)."""
    members = _members(path)
    found = Archive()
    base = (old_url or _substack_home(members) or "").rstrip("/")
    for name in sorted(n for n in members if n.lower().endswith(".csv")):
        raw = members[name]()
        first = raw.decode("utf-8-sig", errors="replace").split("\n", 1)[0]
        read = _reader({h.strip().lower() for h in next(csv.reader([first]), [])})
        if read is None:
            continue  # not a list of posts: perhaps a list of readers
        found.lists.add(name)
        where = f"{path}:{name}" if len(members) > 1 else str(path)
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            found.problems.append((where, 1, f"not UTF-8 ({exc.reason}); save it as UTF-8"))
            continue
        for line, row in _rows(text):
            try:
                found.posts.append(read(f"{where}:{line}", row, members, base))
            except PublisherError as exc:
                found.problems.append((where, line, str(exc.message)))
    return found


def _substack_home(members: Members) -> str | None:
    """Substack names its email list after the publication: `email_list.<pub>.csv`."""
    for name in members:
        parts = name.rsplit("/", 1)[-1].split(".")
        if len(parts) == 3 and parts[0] == "email_list":
            return f"https://{parts[1]}.substack.com"
    return None


Reader = Callable[[str, dict[str, str], Members, str], Post]


def _reader(header: set[str]) -> Reader | None:
    if {"post_id", "title", "post_date"} <= header:
        return _substack
    if {"subject", "slug"} <= header:
        return _buttondown
    if {"content_html", "title"} <= header:
        return _beehiiv
    return None


def _member_text(members: Members, name: str) -> str:
    if name not in members:
        raise PublisherError(f"{name} is not in the archive")
    try:
        return members[name]().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PublisherError(f"{name}: not UTF-8 ({exc.reason})") from exc


def _substack(where: str, row: dict[str, str], members: Members, base: str) -> Post:
    post_id = row["post_id"].strip()
    slug = post_id.split(".", 1)[-1]
    return Post(where, slug, row.get("title", ""), tool_time("post_date", row["post_date"]),
                row.get("subtitle", ""), old_url=f"{base}/p/{slug}" if base else None,
                html=_member_text(members, f"posts/{post_id}.html"),
                draft=row.get("is_published", "true").strip().lower() != "true")


def _buttondown(where: str, row: dict[str, str], members: Members, base: str) -> Post:
    slug = row["slug"].strip()
    date = row.get("publish_date") or row.get("creation_date") or ""
    return Post(where, slug, row.get("subject", ""), tool_time("publish_date", date),
                row.get("description", ""), old_url=f"{base}/archive/{slug}/" if base else None,
                markdown=_member_text(members, f"emails/{slug}.md"))


def _beehiiv(where: str, row: dict[str, str], members: Members, base: str) -> Post:
    url = row.get("web_url", "").strip() or None
    slug = row.get("slug", "").strip() or urlsplit(url or "").path.rstrip("/").split("/")[-1]
    date = row.get("publish_date") or row.get("created_at") or ""
    tags = tuple(t.strip() for t in row.get("content_tags", "").split(",") if t.strip())
    return Post(where, slug or row.get("title", ""), row.get("title", ""),
                tool_time("publish_date", date), row.get("subtitle", ""), tags,
                url, html=row["content_html"])


def redirect_lines(posts: list[Post]) -> list[str]:
    """`old-path new-path;` for an nginx `map $uri $new_uri { include …; }` (drafts were
    never published there: none)."""
    return [f"{urlsplit(post.old_url).path} {issue_path(issue_slug(post.slug))};"
            for post in posts if post.old_url and not post.draft]


def write_folder(folder: Path, files: list[IssueFile], redirects: list[str]) -> list[Path]:
    """Write the issue files and the redirect map; returns the files written (an identical
    file is left as it is; one with other content stops everything before any write)."""
    wanted = {folder / "issues" / f.name: f.text for f in files}
    if redirects:
        wanted[folder / REDIRECTS] = "\n".join(redirects) + "\n"
    for target, text in wanted.items():
        if target.exists() and target.read_text(encoding="utf-8") != text:
            raise PublisherError(f"{target}: exists with other content; not overwritten "
                                 "(move it away, or import into another --out folder)")
    written = []
    for target, text in wanted.items():
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
            written.append(target)
    return written


def convert(archive: Archive) -> list[IssueFile]:
    return [issue_file(post) for post in archive.posts]
