"""The build pipeline: issue files -> Issue objects -> email, feeds and archive -> public/.

The output directory is the published tree: anyone can fetch what is in it. Only published
issues (not a draft, dated at or before the build's clock) put bytes there; the email of a
draft or a future issue goes to the private preview folder (var/preview/ under the project
root). Every file a build writes there is listed in <output>/.cache/outputs.json, and the
next build removes each listed file it no longer produces (a deleted, renamed or withdrawn
issue, a tag or a feed document gone), so the tree is exactly the published site. Files the
build never wrote are never touched.

A draft's problems are warnings: the draft is left out and everything else is built. Any
other problem fails the build before anything is written.

Incremental, and the same bytes as a fresh build: when nothing the build reads or wrote
changed since the last good one (site.stamp), it stops at once. Otherwise the front matter
of unchanged files comes from the build cache (<output>/.cache/, content.front_matter_cache),
and each published issue's outputs are keyed by a fingerprint of its file, the templates,
the settings and the package version; an unchanged one is neither checked nor rendered again
(its web content comes from the build cache, which holds published issues only). The cache
also keeps a fingerprint of each issue's words (title, summary, body) and the build time at
which a change to them was first seen: the entry's `updated` when the front matter has none.
Unpublished issues are checked and rendered on every build. Issue pages, listings, tag pages
and feed documents are rendered only when what they are made from changed (site.derived), and
written only when their bytes change. `full` ignores all of it but the words' history.

Translations (`<name>.<lang>.md`) are checked and rendered with their original, whose
fingerprint covers them all, and cached under `<slug>.<lang>`. The site's language is one
edition at the root, every original in it; each other language of `[site] languages` with a
published translation is one under /<lang>/ with only its translations (site.editions).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import yaml

from publisher import __version__, urls
from publisher.config import Config
from publisher.content.front_matter_cache import FrontMatterCache
from publisher.content.issues import (
    Issue,
    original_path,
    read_issues,
    split_front_matter,
    translation_language,
    variants,
)
from publisher.content.lint import raw_body_problems
from publisher.content.markup import to_html
from publisher.errors import ConfigError, IssueFileError, Problem
from publisher.mail.checks import check_issue
from publisher.mail.rendered import RenderedEmail
from publisher.site import stamp
from publisher.site.archive import (
    FAVICON,
    Edition,
    PageItem,
    favicon_file,
    index_page,
    issue_page,
    sitemap,
    stylesheet,
)
from publisher.site.derived import Derived
from publisher.site.derived import key as derived_key
from publisher.site.editions import Listing, Pages, cache_key, edition_prefix, site_editions
from publisher.site.feeds import Entry, Tag, absolutize, feed_pages, render_feed_set
from publisher.templating import template_files

CACHE_DIR = ".cache"
PREVIEW_DIR = "var/preview"  # under the project root, never under the output directory
EMAIL_FILES = ("email.html", "email.txt")
MANIFEST = "manifest.json"
OUTPUTS = "outputs.json"  # every file of the published tree that the build wrote
FRONT_MATTER = "front-matter.json"  # parsed front matter of published issues
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
Ping = Callable[[str, list[str]], None]
log = logging.getLogger(__name__)


@dataclass
class BuildReport:
    """What a build wrote, for the CLI to print and tests to inspect."""

    issues: list[Issue] = field(default_factory=list)
    emails: dict[str, RenderedEmail] = field(default_factory=dict)
    rendered: list[str] = field(default_factory=list)  # slugs rendered this time
    written: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)  # no longer produced
    warnings: list[Problem] = field(default_factory=list)  # drafts' problems; left out
    feeds_changed: bool = False
    up_to_date: bool = False  # nothing changed since the last good build: nothing done


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
    for name, path in template_files(config.templates_dir).items():
        digest.update(name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def issue_fingerprint(issue: Issue, site: str) -> str:
    """Of an original with its translations: a changed translation re-renders them all."""
    digest = hashlib.sha256(site.encode() + issue.path.read_bytes())
    for variant in variants(issue)[1:]:
        digest.update(variant.path.read_bytes())
    return digest.hexdigest()


def words_fingerprint(issue: Issue) -> str:
    """What a reader reads of an issue: a change here is a change worth an `updated`."""
    words = "\0".join((issue.title, issue.meta.summary, issue.body))
    return hashlib.sha256(words.encode("utf-8")).hexdigest()


def entry_for(issue: Issue, content_html: str, config: Config,
              changed: datetime | None = None) -> Entry:
    """The feed entry; `updated` is the front matter's, else when the words last changed
    (`changed`, as the build cache recorded it), else the publication date."""
    base = config.site.base_url
    updated = issue.meta.updated or issue.published
    if issue.meta.updated is None and changed is not None:
        updated = max(updated, changed.astimezone(issue.published.tzinfo))
    return Entry(
        id=issue.entry_id(config.site.domain), slug=issue.slug, title=issue.title,
        url=urls.issue_url(base + edition_prefix(issue), issue.slug),
        summary=issue.meta.summary,
        content_html=content_html, authors=tuple(issue.meta.authors),
        tags=tuple(issue.meta.tags), language=issue.language,
        published=issue.published, updated=updated,
    )


class _Cache:
    """Per published issue, under <output>/.cache/: the fingerprint its outputs were made
    from, its web content, and when a build first saw its current words."""

    def __init__(self, output_dir: Path) -> None:
        self.dir = output_dir / CACHE_DIR
        manifest = self.dir / MANIFEST
        stored = json.loads(manifest.read_text(encoding="utf-8")) if manifest.exists() else {}
        # Older builds kept only the fingerprint, as a bare string.
        self.entries: dict[str, dict[str, str]] = {
            slug: value if isinstance(value, dict) else {"fingerprint": value}
            for slug, value in stored.items()}

    def fresh(self, slug: str, fingerprint: str) -> bool:
        return (self.entries.get(slug, {}).get("fingerprint") == fingerprint
                and (self.dir / f"{slug}.html").exists())

    def content(self, slug: str) -> str:
        return (self.dir / f"{slug}.html").read_text(encoding="utf-8")

    def store(self, slug: str, fingerprint: str, content_html: str) -> None:
        write_if_changed(self.dir / f"{slug}.html", content_html)
        self.entries.setdefault(slug, {})["fingerprint"] = fingerprint

    def changed_at(self, issue: Issue, now: datetime) -> datetime | None:
        """When a build first saw the issue's current words; None while they are the ones
        it was first published with (or built with before this was recorded)."""
        record = self.entries.setdefault(cache_key(issue), {})
        words = words_fingerprint(issue)
        if record.get("words", words) != words:
            record["changed"] = now.astimezone(UTC).isoformat()
        record["words"] = words
        changed = record.get("changed")
        return datetime.fromisoformat(changed) if changed else None

    def retain(self, slugs: set[str]) -> None:
        """Forget every variant (by `cache_key`) that is not published now (deleted,
        renamed, withdrawn): no text of it stays, and one published again starts afresh."""
        for slug in set(self.entries) - slugs:
            del self.entries[slug]
        for path in self.dir.glob("*.html"):
            if path.stem not in slugs:
                path.unlink()

    def save(self) -> None:
        write_if_changed(self.dir / MANIFEST, json.dumps(self.entries, sort_keys=True))


class _Output:
    """The published tree. Writes only changed bytes, lists every file this build produces
    (written or left as it was), and removes what an earlier build listed that this one
    does not produce; nothing it never listed is ever removed."""

    def __init__(self, root: Path, report: BuildReport, full: bool = False) -> None:
        self.root, self.report = root, report
        self.listing = root / CACHE_DIR / OUTPUTS
        self.produced: set[str] = set()
        self.derived = Derived(root / CACHE_DIR)
        if full:
            self.derived.previous = {}
        if self.listing.exists():
            self.previous = set(json.loads(self.listing.read_text(encoding="utf-8")))
        elif (root / CACHE_DIR / MANIFEST).exists():  # built before outputs were listed
            self.previous = _legacy_outputs(root)
        else:
            self.previous = set()

    def write(self, path: Path, content: str | bytes) -> bool:
        self.keep(path)
        return _write(path, content, self.report)

    def keep(self, path: Path) -> None:
        self.produced.add(self._name(path))

    def _name(self, path: Path) -> str:
        """`path` relative to the root (cheaper than `relative_to`, asked for every file)."""
        text, root = path.as_posix(), self.root.as_posix() + "/"
        return text[len(root):] if text.startswith(root) else path.relative_to(self.root).as_posix()

    def unchanged(self, path: Path, key: str) -> bool:
        """Whether the last build made `path` from `key` and left it as it is: then it is
        kept as produced, unwritten."""
        if not self.derived.unchanged(self._name(path), key, path):
            return False
        self.keep(path)
        return True

    def write_derived(self, path: Path, key: str, content: str | bytes) -> bool:
        changed = self.write(path, content)
        self.derived.note(self._name(path), key, path)
        return changed

    def derive(self, path: Path, key: str, render: Callable[[], str | bytes]) -> None:
        """Write what `render` makes, unless `path` is unchanged from the same `key`."""
        if not self.unchanged(path, key):
            self.write_derived(path, key, render())

    def save_derived(self) -> None:
        write_if_changed(self.derived.file, self.derived.dump())

    def prune(self) -> None:
        root = self.root.resolve()
        for name in sorted(self.previous - self.produced):
            path = self.root / name
            if not path.resolve().is_relative_to(root) or not path.is_file():
                continue
            path.unlink()
            self.report.removed.append(path)
            folder = path.parent
            while folder.resolve() != root and not any(folder.iterdir()):
                folder.rmdir()
                folder = folder.parent
        self.previous = set(self.produced)

    def save(self) -> None:
        """List what the build wrote. After a failed build: what the last good one listed
        plus what this one wrote, so no file written is ever left unlisted."""
        names = sorted(self.previous | self.produced)
        write_if_changed(self.listing, json.dumps(names, ensure_ascii=False) + "\n")


def _legacy_outputs(root: Path) -> set[str]:
    """What builds before outputs.json wrote: listings, feeds, issue pages and emails."""
    files = [root / name for name in ("index.html", "sitemap.xml", "style.css",
                                      *urls.FEED_FILES.values())]
    files += [path for folder in ("tags", "feeds") for path in (root / folder).rglob("*")]
    files += [path for path in (root / "issues").glob("*/*")
              if path.name in ("index.html", *EMAIL_FILES)]
    return {path.relative_to(root).as_posix() for path in files if path.is_file()}


def _leave_out_broken_drafts(issues: list[Issue], problems: list[Problem],
                             failed: list[Path], report: BuildReport) -> list[Issue]:
    """Fail on any problem outside a draft; a draft's problems are warnings, and the draft
    is left out of this build (nothing rendered, nothing removed in its name)."""
    drafts = {variant.path for issue in issues if issue.meta.draft for variant in variants(issue)}
    drafts |= {path for path in failed
               if _says_draft(original_path(path) if translation_language(path) else path)}
    errors = [p for p in problems if p.path not in drafts]
    report.warnings = [p for p in problems if p.path in drafts]
    for problem in report.warnings:
        log.warning("%s (draft: left out of the build)", problem)
    if errors:
        raise IssueFileError(errors)
    broken = {problem.path for problem in report.warnings}
    return [issue for issue in issues if issue.path not in broken]


def _says_draft(path: Path) -> bool:
    """Whether a file whose front matter failed the schema still says `draft: true`."""
    try:
        parts = split_front_matter(path.read_text(encoding="utf-8"))
        data = yaml.safe_load(parts[0]) if parts else None
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(data, dict) and data.get("draft") is True


def _write_emails(issues: list[Issue], published: set[str], emails: dict[Path, RenderedEmail],
                  config: Config, out: _Output, report: BuildReport) -> None:
    """Each email rendered this build: a published one into the output, the rest into the
    private preview folder; an unchanged published issue's email stays as it is."""
    for issue in issues:
        rendered = emails.get(issue.path)
        if rendered is None:
            if issue.slug in published:
                for path in email_paths(out.root, issue.slug):
                    out.keep(path)
            continue
        report.emails[issue.slug] = rendered
        report.rendered.append(issue.slug)
        texts = (rendered.html, rendered.text)
        if issue.slug in published:
            for path, text in zip(email_paths(out.root, issue.slug), texts, strict=True):
                out.write(path, text)
        else:
            for path, text in zip(email_paths(preview_dir(config), issue.slug), texts,
                                  strict=True):
                _write(path, text, report)


def _withdraw(slug: str, config: Config) -> None:
    """Remove what an earlier build put in the published tree for an unpublished issue,
    listed or not: its page and email, and an old `preview`'s files there."""
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


@dataclass(frozen=True)
class _Keys:
    """What pages and feeds are made from, cheaply: the site's fingerprint, and each
    published variant's (by `cache_key`) its original's fingerprint, which covers all that
    its page item and content are made of."""

    site: str
    variants: dict[str, str]

    def of(self, entry: Entry, edition: Edition) -> str:
        """An entry's, as its edition shows it (`updated` is the build cache's)."""
        name = entry.slug if not edition.prefix else f"{entry.slug}.{edition.language}"
        return f"{self.variants[name]}:{name}:{entry.updated.isoformat()}"


def _write_edition(listing: Listing, pages: Pages, config: Config, out: _Output,
                   keys: _Keys) -> None:
    """An edition's issue pages, listing, tag pages and feeds, under its prefix; each one
    rendered only when what it is made from changed (site.derived)."""
    edition, prefix, language = listing.edition, listing.edition.prefix, listing.edition.language
    entry_keys = [keys.of(entry, edition) for entry in listing.entries]
    for item, entry, key in zip(listing.items, listing.entries, entry_keys, strict=True):
        variants = pages.of(item.path, language)
        out.derive(out.root / (prefix + item.path).strip("/") / "index.html",
                   derived_key(keys.site, key, edition, variants),
                   partial(issue_page, item, entry.content_html, config, edition, variants))
    newest = sorted(((item, _shown(item)) for item in listing.items),
                    key=lambda pair: pair[0].published_iso, reverse=True)
    lists: list[tuple[Tag | None, str]] = [(None, "/"), *((tag, tag.path) for tag in listing.tags)]
    for tag, path in lists:
        shown = [(item, key) for item, key in newest if tag is None or tag.holds(item.tags)]
        items, variants = [item for item, _ in shown], pages.of(path, language)
        out.derive(out.root / (prefix + path + "index.html").strip("/"),
                   derived_key(keys.site, [key for _, key in shown], listing.tags, tag, edition,
                               variants),
                   partial(index_page, items, listing.tags, config, tag, edition, variants))
    _write_feeds(listing, dict(zip(map(id, listing.entries), entry_keys, strict=True)), config,
                 out, keys.site)


def _shown(item: PageItem) -> str:
    """All a list page shows of an issue, as one string (a repr costs several times more)."""
    return "\0".join((item.title, item.path, item.url, item.summary, "\1".join(item.tags),
                      "\1".join(item.authors), item.language, item.source or "",
                      item.published_iso))


def _write_feeds(listing: Listing, entry_keys: dict[int, str], config: Config, out: _Output,
                 site: str) -> None:
    """Every page of the edition's feeds whose entries or place changed, in all formats
    (`entry_keys` by the id of each entry)."""
    for page in feed_pages(listing.entries, listing.tags, config, listing.edition.prefix,
                           listing.edition.language):
        key = derived_key(site, page.meta, [entry_keys[id(entry)] for entry in page.entries])
        files = [out.root / path.strip("/") for path in page.paths]
        if all([out.unchanged(path, key) for path in files]):
            continue
        rendered = render_feed_set(page.meta, page.entries, config.site.base_url, EPOCH)
        for path, data in rendered.items():
            if out.write_derived(out.root / path.strip("/"), key, data):
                out.report.feeds_changed = True


def _write_site(listings: list[Listing], config: Config, out: _Output, keys: _Keys) -> None:
    """Every edition (the site's language first), then the sitemap, stylesheet and icon."""
    pages = Pages(config.site.base_url)
    for listing in listings:
        pages.add(listing.edition, listing.paths)
    for listing in listings:
        _write_edition(listing, pages, config, out, keys)
    items = [item for listing in listings for item in listing.items]
    newest_first = sorted(items, key=lambda item: item.published_iso, reverse=True)
    out.write(out.root / "sitemap.xml",
              sitemap(newest_first, config, pages.of_url if len(listings) > 1 else None,
                      [listing.edition.prefix for listing in listings]))
    out.write(out.root / "style.css", stylesheet(config))
    out.write(out.root / FAVICON, favicon_file(config).read_bytes())


def build_site(config: Config, now: datetime, *, ping: Ping | None = None,
               full: bool = False) -> BuildReport:
    """Check every issue, then write emails, archive pages and feeds, and remove what the
    published tree no longer holds. Problems outside drafts fail it before any write.

    Drafts and issues dated after `now` get an email in the private preview folder and
    nothing under the output directory (no page, email, feed entry or cached content).
    `ping` (WebSub) is called when a feed changed and a hub is set, with every edition's
    main feeds. When nothing it reads or wrote changed since the last good build (the site
    stamp), it stops at once; `full` ignores the stamp and every cache of parsed or
    rendered content, and checks and renders everything again.
    """
    check_output_is_public_only(config)
    if not config.issues_dir.is_dir():
        raise ConfigError(config.missing_folder("issues"))
    cache_dir = config.output_dir / CACHE_DIR
    last = None if full else stamp.load(cache_dir)
    if last is not None and last.holds(stamp.inputs(config), partial(_outputs_now, config), now):
        return BuildReport(up_to_date=True)
    inputs = stamp.begin(cache_dir, config)
    report, out, editions, window = _build(config, now, full)
    hub = config.settings.feeds.websub_hub
    if ping is not None and hub and report.feeds_changed:
        ping(hub, [urls.feed_url(config.site.base_url + listing.edition.prefix, kind)
                   for listing in editions for kind in urls.FEED_KINDS])
    if inputs is not None and not report.warnings:
        built = stamp.Stamp(inputs.digest, stamp.outputs(out.root, out.produced,
                                                         preview_dir(config)), *window)
        write_if_changed(cache_dir / stamp.STAMP, built.to_json())
    return report


def _outputs_now(config: Config) -> str:
    """The outputs' digest, over the files the last build listed."""
    listing = config.output_dir / CACHE_DIR / OUTPUTS
    try:
        names = json.loads(listing.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    return stamp.outputs(config.output_dir, names, preview_dir(config))


def _read(config: Config, full: bool) -> tuple[list[Issue], list[Problem], list[Path],
                                               FrontMatterCache]:
    """Every issue file, read with the front matter cache (an empty one for `full`)."""
    file = config.output_dir / CACHE_DIR / FRONT_MATTER
    front_matter = FrontMatterCache() if full else FrontMatterCache.load(file)
    issues, problems, failed = read_issues([config.issues_dir], front_matter)
    for path in failed:
        problems.extend(raw_body_problems(path))
    return issues, problems, failed, front_matter


def _check(issues: list[Issue], now: datetime, fingerprints: dict[Path, str], cache: _Cache,
           config: Config, full: bool) -> tuple[dict[Path, RenderedEmail], list[Problem]]:
    """Every variant checked and its email rendered, but a published issue's whose outputs
    were made from these very bytes (by `fingerprints`; unless `full`)."""
    emails: dict[Path, RenderedEmail] = {}
    problems: list[Problem] = []
    for issue in issues:
        if (not full and issue.is_published(now)
                and _unchanged(issue, fingerprints[issue.path], cache, config)):
            continue
        for variant in variants(issue):
            rendered, found = check_issue(variant, config)
            problems.extend(found)
            if rendered is not None:
                emails[variant.path] = rendered
    return emails, problems


def _build(config: Config, now: datetime, full: bool,
           ) -> tuple[BuildReport, _Output, list[Listing], tuple[datetime | None, ...]]:
    """The build itself: its report, its outputs, its editions, and the build times over
    which the same issues are published (the site stamp's)."""
    report = BuildReport()
    issues, problems, failed, front_matter = _read(config, full)
    cache, site = _Cache(config.output_dir), site_fingerprint(config)
    fingerprints = {issue.path: issue_fingerprint(issue, site) for issue in issues}
    emails, found = _check(issues, now, fingerprints, cache, config, full)
    issues = _leave_out_broken_drafts(issues, problems + found, failed, report)
    report.issues = issues
    published = [issue for issue in issues if issue.is_published(now)]
    slugs = {issue.slug for issue in published}
    out = _Output(config.output_dir, report, full)
    try:
        _write_emails(issues, slugs, emails, config, out, report)
        for issue in issues:
            if issue.slug not in slugs:
                _withdraw(issue.slug, config)
        contents = {cache_key(variant): entry_for(
                        variant, _content(variant, emails, fingerprints[issue.path], cache,
                                          config), config, cache.changed_at(variant, now))
                    for issue in published for variant in variants(issue)}
        editions = site_editions(published, contents, config)
        variant_keys = {cache_key(variant): fingerprints[issue.path]
                        for issue in published for variant in variants(issue)}
        _write_site(editions, config, out, _Keys(site, variant_keys))
        out.prune()
    finally:
        out.save()
    cache.retain(set(contents))
    cache.save()
    kept = {variant.path for issue in published for variant in variants(issue)}
    write_if_changed(out.root / CACHE_DIR / FRONT_MATTER, front_matter.dump(kept))
    out.save_derived()
    return report, out, editions, _published_span(issues, now)


def _published_span(issues: list[Issue], now: datetime) -> tuple[datetime | None, ...]:
    """The newest published date and the first future one (drafts aside): between them,
    the same issues are published."""
    dates = [issue.published for issue in issues if not issue.meta.draft]
    return (max((d for d in dates if d <= now), default=None),
            min((d for d in dates if d > now), default=None))


def _unchanged(issue: Issue, fingerprint: str, cache: _Cache, config: Config) -> bool:
    """A published issue whose outputs are all there and made from these very bytes."""
    return (all(cache.fresh(cache_key(variant), fingerprint) for variant in variants(issue))
            and all(path.exists() for path in email_paths(config.output_dir, issue.slug)))


def _content(issue: Issue, emails: dict[Path, RenderedEmail], fingerprint: str, cache: _Cache,
             config: Config) -> str:
    """A published variant's web content: made now if it was rendered, else from the cache
    (`fingerprint` is its original's, with every translation)."""
    if issue.path not in emails:
        return cache.content(cache_key(issue))
    content = absolutize(to_html(issue.body), config.site.base_url)
    cache.store(cache_key(issue), fingerprint, content)
    return content
