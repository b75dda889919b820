"""The build pipeline: issue files -> Issue objects -> email, feeds and archive -> public/.

The output directory is the published tree: anyone can fetch what is in it. Only published
issues (not a draft, dated at or before the build's clock) put bytes there; the email of a
draft or a future issue goes to the private preview folder (var/preview/ under the project
root), and whatever an earlier build left in the published tree for such an issue is removed.

Incremental: each published issue's outputs are keyed by a fingerprint of its file, the
templates, the settings and the package version; an unchanged one is neither checked nor
rendered again (its web content comes from the build cache, <output>/.cache/, which holds
published issues only). Unpublished issues are checked and rendered on every build. Listings
and feeds are cheap and are always regenerated, but written only when their bytes change;
those of a tag or a feed page that no longer has issues are removed.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from publisher import __version__, urls
from publisher.archive import index_page, issue_page, page_item, sitemap, stylesheet, tag_pages
from publisher.config import Config
from publisher.email_render import RenderedEmail, render_email
from publisher.errors import ConfigError, IssueFileError
from publisher.feeds import Entry, absolutize, render_feeds
from publisher.issues import Issue, read_issues
from publisher.lint import body_problems, raw_body_problems
from publisher.markup import to_html

CACHE_DIR = ".cache"
PREVIEW_DIR = "var/preview"  # under the project root, never under the output directory
EMAIL_FILES = ("email.html", "email.txt")
MANIFEST = "manifest.json"
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
Ping = Callable[[str, list[str]], None]


@dataclass
class BuildReport:
    """What a build wrote, for the CLI to print and tests to inspect."""

    issues: list[Issue] = field(default_factory=list)
    emails: dict[str, RenderedEmail] = field(default_factory=dict)
    rendered: list[str] = field(default_factory=list)  # slugs rendered this time
    written: list[Path] = field(default_factory=list)
    feeds_changed: bool = False


def check_issues(paths: list[Path], config: Config) -> list[tuple[Issue, RenderedEmail]]:
    """Load and fully check issues (front matter, body, email size); all problems at once.

    Returns each issue with its rendered email, so a build renders each email only once.
    """
    issues, problems, failed = read_issues(paths)
    for path in failed:
        problems.extend(raw_body_problems(path))
    checked: list[tuple[Issue, RenderedEmail]] = []
    for issue in issues:
        issue_problems = body_problems(issue)
        problems.extend(issue_problems)
        try:
            checked.append((issue, render_email(issue, config)))
        except IssueFileError as exc:
            problems.extend(exc.problems)
    if problems:
        raise IssueFileError(problems)
    return checked


def write_if_changed(path: Path, content: str | bytes) -> bool:
    """Write atomically, and only when the content differs (unchanged files keep their mtime)."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    if path.exists() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    # A name of its own: two builds at once (two daemons) never share a temporary file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return True


def email_paths(output_dir: Path, slug: str) -> tuple[Path, Path]:
    base = output_dir / "issues" / slug
    html, text = EMAIL_FILES
    return base / html, base / text


def preview_dir(config: Config) -> Path:
    """The private folder for previews and unpublished emails: never served, never public."""
    return config.path(PREVIEW_DIR)


def private_dirs(config: Config) -> tuple[Path, Path]:
    """Folders whose files are unpublished by nature: the issue sources and the previews."""
    return config.issues_dir, preview_dir(config)


def check_output_is_public_only(config: Config) -> None:
    """Refuse an output directory that holds a private folder (e.g. `paths.output = "."`)."""
    out = config.output_dir.resolve()
    for folder in private_dirs(config):
        if folder.resolve().is_relative_to(out):
            raise ConfigError(f"paths.output: {config.output_dir} contains {folder}, which "
                              "must stay private; choose an output directory of its own")


def site_fingerprint(config: Config) -> str:
    """Changes whenever templates, settings or the code version change: then all re-render."""
    digest = hashlib.sha256(__version__.encode())
    digest.update(config.settings.model_dump_json().encode())
    for path in sorted(config.templates_dir.rglob("*")):
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def issue_fingerprint(issue: Issue, site: str) -> str:
    return hashlib.sha256(site.encode() + issue.path.read_bytes()).hexdigest()


def entry_for(issue: Issue, content_html: str, config: Config) -> Entry:
    base = config.site.base_url
    return Entry(
        id=issue.entry_id(config.site.domain), slug=issue.slug, title=issue.title,
        url=urls.issue_url(base, issue.slug), summary=issue.meta.summary,
        content_html=content_html, authors=tuple(issue.meta.authors),
        tags=tuple(issue.meta.tags), language=issue.language,
        published=issue.published, updated=issue.updated,
    )


class _Cache:
    """Per-issue fingerprints and web content, kept under <output>/.cache/."""

    def __init__(self, output_dir: Path) -> None:
        self.dir = output_dir / CACHE_DIR
        manifest = self.dir / MANIFEST
        self.entries: dict[str, str] = (
            json.loads(manifest.read_text(encoding="utf-8")) if manifest.exists() else {})

    def fresh(self, slug: str, fingerprint: str) -> bool:
        return self.entries.get(slug) == fingerprint and (self.dir / f"{slug}.html").exists()

    def content(self, slug: str) -> str:
        return (self.dir / f"{slug}.html").read_text(encoding="utf-8")

    def store(self, slug: str, fingerprint: str, content_html: str) -> None:
        write_if_changed(self.dir / f"{slug}.html", content_html)
        self.entries[slug] = fingerprint

    def forget(self, slug: str) -> None:
        """Drop an issue that is not published (any more): its text must not stay here."""
        (self.dir / f"{slug}.html").unlink(missing_ok=True)
        self.entries.pop(slug, None)

    def save(self) -> None:
        write_if_changed(self.dir / MANIFEST, json.dumps(self.entries, indent=1, sort_keys=True))


def _render_changed(issues: list[Issue], published: set[str], config: Config, cache: _Cache,
                    report: BuildReport) -> dict[str, str]:
    """Check and render unpublished issues and published ones whose fingerprint changed.

    Returns the web content of every published issue.
    """
    site = site_fingerprint(config)
    stale = [i for i in issues if i.slug not in published
             or not cache.fresh(i.slug, issue_fingerprint(i, site))]
    checked = check_issues([i.path for i in stale], config) if stale else []
    contents: dict[str, str] = {}
    for issue, rendered in checked:
        report.emails[issue.slug] = rendered
        report.rendered.append(issue.slug)
        if issue.slug not in published:
            _write_email(preview_dir(config), rendered, report)
            continue
        content = absolutize(to_html(issue.body), config.site.base_url)
        _write_email(config.output_dir, rendered, report)
        cache.store(issue.slug, issue_fingerprint(issue, site), content)
        contents[issue.slug] = content
    for slug in published - contents.keys():
        contents[slug] = cache.content(slug)
    return contents


def _write_email(folder: Path, rendered: RenderedEmail, report: BuildReport) -> None:
    for path, text in zip(email_paths(folder, rendered.slug), (rendered.html, rendered.text),
                          strict=True):
        _write(path, text, report)


def _withdraw(slug: str, config: Config, cache: _Cache) -> None:
    """Remove what an earlier build put in the published tree for an unpublished issue:
    its page and email, the cached web content, and an old `preview`'s files there."""
    cache.forget(slug)
    out = config.output_dir
    for folder in (out / urls.issue_path(slug).strip("/"), out / "preview" / "issues" / slug):
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if path.is_file() and (path.name == "index.html" or path.name.startswith("email")):
                path.unlink()
        if not any(folder.iterdir()):
            folder.rmdir()


def _write(path: Path, content: str | bytes, report: BuildReport) -> bool:
    changed = write_if_changed(path, content)
    if changed:
        report.written.append(path)
    return changed


def _write_site(published: list[Issue], contents: dict[str, str], config: Config,
                report: BuildReport, rendered: set[str]) -> None:
    out = config.output_dir
    entries = [entry_for(issue, contents[issue.slug], config) for issue in published]
    items = [page_item(entry, issue.meta.source, config)
             for entry, issue in zip(entries, published, strict=True)]
    newest_first = sorted(items, key=lambda item: item.published_iso, reverse=True)
    for item, entry in zip(items, entries, strict=True):
        page = out / item.path.strip("/") / "index.html"
        if entry.slug in rendered or not page.exists():
            _write(page, issue_page(item, entry.content_html, config), report)
    _write(out / "index.html", index_page(newest_first, config), report)
    listings: set[Path] = set()
    for path, html in tag_pages(newest_first, config).items():
        listings.add(out / path.strip("/"))
        _write(out / path.strip("/"), html, report)
    _write(out / "sitemap.xml", sitemap(newest_first, config), report)
    _write(out / "style.css", stylesheet(config), report)
    for path, data in render_feeds(entries, config, EPOCH).items():
        listings.add(out / path.strip("/"))
        if _write(out / path.strip("/"), data, report):
            report.feeds_changed = True
    _prune_listings(out, listings)


def _prune_listings(out: Path, current: set[Path]) -> None:
    """Remove tag pages and feed pages this build did not write: a tag or a page whose
    issues were all withdrawn must not keep listing them."""
    for folder in (out / "tags", out / "feeds"):
        if not folder.is_dir():
            continue
        for path in sorted(folder.rglob("*"), reverse=True):  # files before their folders
            if path.is_file() and path not in current:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()


def build_site(config: Config, now: datetime, *, ping: Ping | None = None) -> BuildReport:
    """Check every issue, then write emails, archive pages and feeds; all or nothing on errors.

    Drafts and issues dated after `now` get an email in the private preview folder and
    nothing under the output directory (no page, email, feed entry or cached content).
    `ping` (WebSub) is called when a feed changed and a hub is set.
    """
    check_output_is_public_only(config)
    report = BuildReport()
    issues, problems, failed = read_issues([config.issues_dir])
    if problems:
        for path in failed:
            problems.extend(raw_body_problems(path))
        raise IssueFileError(problems)
    report.issues = issues
    cache = _Cache(config.output_dir)
    published = [issue for issue in issues if issue.is_published(now)]
    slugs = {issue.slug for issue in published}
    contents = _render_changed(issues, slugs, config, cache, report)
    for issue in issues:
        if issue.slug not in slugs:
            _withdraw(issue.slug, config, cache)
    _write_site(published, contents, config, report, set(report.rendered))
    cache.save()
    hub = config.settings.feeds.websub_hub
    if ping is not None and hub and report.feeds_changed:
        ping(hub, [config.site.base_url + "/" + name for name in ("feed.atom", "feed.rss",
                                                                    "feed.json")])
    return report

