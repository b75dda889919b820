"""Serving the built archive and feeds: right types, strong ETags, 304s, gzip, caching.

Only files of the published tree are served: under the output directory, not hidden, and
not inside a private folder (issue sources, previews) should the output directory hold one.
The build keeps drafts and future issues out of that tree. A path no file can have (a NUL
or control character, a segment over NAME_MAX, a path over PATH_MAX) is simply not found.
Redirects (a folder without its slash, a path with empty segments such as `//issues`) go
to the single-slash path of the same file on this site, never to `//host`.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from publisher.config import Config
from publisher.site.build import private_dirs

CONTENT_TYPES = {
    ".atom": "application/atom+xml; charset=utf-8",
    ".rss": "application/rss+xml; charset=utf-8",
    ".json": "application/feed+json; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".xml": "application/xml; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
}
MAX_AGE = {".css": 86400, ".png": 86400, ".svg": 86400, ".ico": 86400}
DEFAULT_MAX_AGE = 300
COMPRESSIBLE = {".atom", ".rss", ".json", ".html", ".txt", ".css", ".xml", ".svg"}
NAME_MAX = 255  # bytes in one file name (Linux, macOS)
PATH_MAX = 4096  # bytes in a whole path


@dataclass(frozen=True)
class StaticFile:
    """A file's bytes, its gzip form, and validators, computed once per version of the file."""

    body: bytes
    gzipped: bytes | None
    etag: str
    last_modified: datetime
    content_type: str
    max_age: int


@lru_cache(maxsize=512)
def _load(path: Path, mtime_ns: int, size: int) -> StaticFile:
    body = path.read_bytes()
    suffix = path.suffix
    digest = hashlib.sha256(body).hexdigest()[:32]
    gzipped = gzip.compress(body, mtime=0) if suffix in COMPRESSIBLE and size > 512 else None
    modified = datetime.fromtimestamp(mtime_ns // 1_000_000_000, UTC)
    return StaticFile(body, gzipped, digest, modified,
                      CONTENT_TYPES.get(suffix, "application/octet-stream"),
                      MAX_AGE.get(suffix, DEFAULT_MAX_AGE))


def segments(url_path: str) -> list[str]:
    """The non-empty segments of a URL path (`//a///b/` is a, b)."""
    return [p for p in url_path.split("/") if p]


def _nameable(parts: list[str]) -> bool:
    """Every segment could be a file name of the tree, and the whole a path."""
    sizes = [len(p.encode("utf-8", "surrogateescape")) for p in parts]
    return (all(size <= NAME_MAX for size in sizes) and sum(sizes) + len(sizes) <= PATH_MAX
            and not any(ord(c) < 0x20 or c == "\x7f" for p in parts for c in p))


def resolve(root: Path, url_path: str, private: tuple[Path, ...] = ()) -> Path | None:
    """Map a URL path to a file under root; None for hidden or escaping paths, paths inside
    a `private` folder (given resolved) and paths no file can have."""
    parts = segments(url_path)
    if any(p.startswith(".") or "\\" in p for p in parts) or not _nameable(parts):
        return None
    candidate = root.joinpath(*parts) if parts else root
    real = candidate.resolve()
    if not real.is_relative_to(root.resolve()):
        return None
    if any(real.is_relative_to(folder) for folder in private):
        return None
    return candidate


def _not_modified(request: Request, etag: str, modified: datetime) -> bool:
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None:
        tags = {t.strip().removeprefix("W/") for t in if_none_match.split(",")}
        return etag in tags or "*" in tags
    since = request.headers.get("if-modified-since")
    if since:
        try:
            return modified <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


def _respond(request: Request, file: StaticFile) -> Response:
    wants_gzip = file.gzipped is not None and "gzip" in request.headers.get("accept-encoding", "")
    etag = f'"{file.etag}-gz"' if wants_gzip else f'"{file.etag}"'
    headers = {
        "ETag": etag,
        "Last-Modified": format_datetime(file.last_modified, usegmt=True),
        "Cache-Control": f"public, max-age={file.max_age}",
        "X-Content-Type-Options": "nosniff",
    }
    if file.gzipped is not None:
        headers["Vary"] = "Accept-Encoding"
    if _not_modified(request, etag, file.last_modified):
        return Response(status_code=304, headers=headers)
    if wants_gzip:
        headers["Content-Encoding"] = "gzip"
    body = (file.gzipped if wants_gzip else file.body) or b""
    if request.method == "HEAD":
        return Response(status_code=200, headers={**headers, "Content-Length": str(len(body))},
                        media_type=file.content_type)
    return Response(body, headers=headers, media_type=file.content_type)


def canonical_path(url_path: str, folder: bool) -> str:
    """The one (decoded) path a file or folder is served at: single slashes, a folder's
    ending in one."""
    parts = segments(url_path)
    path = "/" + "/".join(parts)
    return path + "/" if folder and parts else path


def routes(config: Config) -> list[BaseRoute]:
    """One catch-all route serving the output directory."""
    root = config.output_dir
    inside = [folder.resolve() for folder in private_dirs(config)]
    private = tuple(f for f in inside if f.is_relative_to(root.resolve()))  # build refuses these

    async def serve(request: Request) -> Response:
        url_path = request.path_params.get("path", "")
        target = resolve(root, url_path, private)
        if target is None or not target.exists():
            return PlainTextResponse("Not found", status_code=404)
        folder = target.is_dir()
        canonical = canonical_path(url_path, folder)
        if request.scope["path"] != canonical:
            parts = canonical.split("/")  # quoted, so no segment can become a host or query
            return RedirectResponse("/".join(quote(p, safe="") for p in parts), 301)
        if folder:
            target = target / "index.html"
            if not target.is_file():
                return PlainTextResponse("Not found", status_code=404)
        stat = target.stat()
        return _respond(request, _load(target, stat.st_mtime_ns, stat.st_size))

    return [Route("/{path:path}", serve, methods=["GET", "HEAD"])]
