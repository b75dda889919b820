"""Read issue files (YAML front matter + Markdown body) into validated Issue objects.

Every problem is reported with the file, the line and the field, and all problems of a
file set are collected before anything fails, so an author fixes them in one pass. Rules
across keys (`updated` not before `date`) and across files (no two issues share a slug or
an `id`) are checked here too, so `check` and the build refuse the same things.

A file named `<name>.<lang>.md` beside `<name>.md` is a translation of that issue, not an
issue: it has its own title, summary and body and inherits everything else (date, id, slug,
tags, send_at, …) from the original. `read_issues` returns originals only, each carrying its
translations by language (`Issue.translations`), so nothing that lists or sends issues can
mistake a translation for a new issue.

A reader may pass a `FrontMatterCache` (the build does): front matter whose very text was
parsed before is not parsed again; everything after the YAML (schema, rules, lines) is the same.
"""

from __future__ import annotations

import glob
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

import yaml
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from publisher.config import BCP47_TAG
from publisher.content import audience_expressions
from publisher.content.front_matter_cache import FrontMatterCache
from publisher.errors import IssueFileError, Problem
from publisher.urls import local_host_in_id

FRONT_MATTER_FENCE = "---"
BOM = "\ufeff"  # editors on Windows save UTF-8 with one; it is not content
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
URL = re.compile(r"^https?://[^\s/$.?#][^\s<>\"]*$", re.IGNORECASE)
TAG_URI = re.compile(r"^(tag:[^\s]+|urn:[^\s]+|https?://[^\s]+)$")
T = TypeVar("T")
LOCAL_TIME = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")  # send_local: "HH:MM", 24-hour


def single_line(value: str) -> str:
    """A title or summary: one line, no control characters, trimmed."""
    if re.search(r"[\x00-\x08\x0a-\x1f\x7f]", value):
        raise ValueError("must be a single line without control characters")
    return value.strip()


def language_tag(value: str) -> str:
    if not BCP47_TAG.match(value):
        raise ValueError(f"{value!r} is not a BCP 47 language tag (e.g. en, zh-CN)")
    return value


class FrontMatter(BaseModel):
    """The schema of an issue's front matter: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = Field(min_length=1, max_length=300)
    date: AwareDatetime
    summary: str = Field(default="", max_length=1000)
    tags: list[str] = Field(default_factory=list)
    authors: list[str] = Field(default_factory=list)
    language: str = "en"
    source: str | None = None
    send_at: AwareDatetime | None = None
    send_local: time | None = None  # deliver at this time of day in each reader's zone
    updated: AwareDatetime | None = None
    draft: bool = False
    slug: str | None = None
    id: str | None = None
    audience: str | None = None  # a tag expression (content.audience_expressions); None: all

    @field_validator("title", "summary")
    @classmethod
    def _single_line(cls, value: str) -> str:
        return single_line(value)

    @field_validator("language")
    @classmethod
    def _bcp47(cls, value: str) -> str:
        return language_tag(value)

    @field_validator("source")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not URL.match(value):
            raise ValueError(f"{value!r} is not an absolute http(s) URL")
        return value

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str | None) -> str | None:
        if value is not None and not SLUG.match(value):
            raise ValueError("use lower-case letters, digits and hyphens")
        return value

    @field_validator("id")
    @classmethod
    def _entry_id(cls, value: str | None) -> str | None:
        if value is not None and not TAG_URI.match(value):
            raise ValueError("must be a tag:, urn: or http(s) URI")
        if value is not None and (host := local_host_in_id(value)):
            raise ValueError(f"names the local address {host}: an id never changes once "
                             "published, so it must carry the site's public domain "
                             "(set site.base_url, then publisher new writes one)")
        return value

    @field_validator("send_local", mode="before")
    @classmethod
    def _time_of_day(cls, value: object) -> time | None:
        if value is None:
            return None
        if isinstance(value, int):  # YAML reads an unquoted 10:30 as 630 (base 60)
            raise ValueError("put the time in quotes, e.g. send_local: \"10:30\"")
        found = LOCAL_TIME.match(value.strip()) if isinstance(value, str) else None
        if found is None:
            raise ValueError(f"{value!r} is not a 24-hour time of day \"HH:MM\", "
                             "e.g. send_local: \"09:00\"")
        return time(int(found.group(1)), int(found.group(2)))

    @field_validator("audience")
    @classmethod
    def _audience(cls, value: str | None) -> str | None:
        if value is not None:
            # AudienceSyntaxError is a ValueError: located like the rest
            audience_expressions.parse(value)
        return value

    @field_validator("tags", "authors", mode="before")
    @classmethod
    def _a_list(cls, value: object, info: ValidationInfo) -> object:
        if isinstance(value, str):
            raise ValueError(f"{info.field_name} is a list: write {info.field_name}: "
                             f"[{value.strip()}]")
        return value

    @field_validator("tags", "authors")
    @classmethod
    def _clean_names(cls, values: list[str]) -> list[str]:
        cleaned = [v.strip() for v in values]
        if any(not v or re.search(r"[\x00-\x1f\x7f]", v) for v in cleaned):
            raise ValueError("entries must be non-empty single-line strings")
        return cleaned


class TranslationMatter(BaseModel):
    """The front matter of a translation: only what a reader reads differs from the original."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = Field(min_length=1, max_length=300)
    summary: str = Field(default="", max_length=1000)
    updated: AwareDatetime | None = None

    @field_validator("title", "summary")
    @classmethod
    def _single_line(cls, value: str) -> str:
        return single_line(value)


# Keys a translation takes from its original: writing one in a translation is an error.
INHERITED_KEYS = frozenset(FrontMatter.model_fields) - frozenset(TranslationMatter.model_fields)


@dataclass(frozen=True)
class Issue:
    """One digest issue: validated front matter, Markdown body, and where it came from.

    An original carries its translations by language; a translation has `translation_of`
    (the original's file) and the original's front matter with its own title, summary,
    `updated` and `language` (the tag in its file name)."""

    path: Path
    meta: FrontMatter
    body: str
    body_line: int  # line number of the body's first line in the file
    key_lines: dict[str, int] = field(default_factory=dict)  # front-matter key -> file line
    translations: Mapping[str, Issue] = field(default_factory=dict, compare=False)
    translation_of: Path | None = None

    @property
    def slug_line(self) -> int:
        return self.key_lines.get("slug", self.key_lines.get("title", 1))

    @property
    def slug(self) -> str:
        return self.meta.slug or slug_from_path(self.path)

    @property
    def title(self) -> str:
        return self.meta.title

    @property
    def language(self) -> str:
        return self.meta.language

    @property
    def published(self) -> datetime:
        return self.meta.date

    @property
    def updated(self) -> datetime:
        return self.meta.updated or self.meta.date

    def entry_id(self, domain: str) -> str:
        """Stable id: explicit `id`, else a tag: URI from the domain, first date and slug;
        a translation's is its original's with `#<language>` (a fragment, so it stays a
        valid tag: or http URI), a distinct entry in its own language's feeds."""
        base = self.meta.id or f"tag:{domain},{self.meta.date.date().isoformat()}:{self.slug}"
        if self.translation_of is None:
            return base
        return f"{base}{'-' if '#' in base else '#'}{self.language}"

    def is_published(self, now: datetime) -> bool:
        return not self.meta.draft and self.meta.date <= now


def translation_language(path: Path) -> str | None:
    """The language a file name gives a translation (`x.en.md` -> "en"), else None."""
    base, dot, tag = path.stem.rpartition(".")
    return tag if dot and base and BCP47_TAG.match(tag) else None


def original_path(path: Path) -> Path:
    """The original a translation's file name points to: `x.en.md` -> `x.md`."""
    return path.with_name(path.stem.rpartition(".")[0] + path.suffix)


def translations_beside(path: Path) -> list[Path]:
    """The translation files beside an original (`x.en.md`, `x.zh-TW.md` beside `x.md`)."""
    return sorted(found for found in path.parent.glob(f"{glob.escape(path.stem)}.*{path.suffix}")
                  if translation_language(found) and original_path(found) == path)


@lru_cache(maxsize=4096)  # asked for again and again (every `Issue.slug`), and pure
def slug_from_path(path: Path) -> str:
    stem = path.stem.lower()
    return re.sub(r"[^a-z0-9]+", "-", stem).strip("-") or "issue"


def split_front_matter(text: str) -> tuple[str, str, int] | None:
    """Return (yaml text, body, body's first line number) or None without a front matter."""
    lines = text.removeprefix(BOM).splitlines(keepends=True)
    if not lines or lines[0].strip() != FRONT_MATTER_FENCE:
        return None
    for index in range(1, len(lines)):
        if lines[index].strip() in (FRONT_MATTER_FENCE, "..."):
            return "".join(lines[1:index]), "".join(lines[index + 1 :]), index + 2
    return None


class UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that keeps timestamps as strings so naive/aware is ours to judge."""


UniqueKeyLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def front_matter_lines(node: yaml.Node, path: Path, problems: list[Problem]) -> dict[str, int]:
    """Map top-level keys to their 1-based line in the file; report duplicate keys."""
    lines: dict[str, int] = {}
    if not isinstance(node, yaml.MappingNode):
        return lines
    for key_node, _ in node.value:
        key = str(key_node.value)
        line = key_node.start_mark.line + 2  # +1 for 1-based, +1 for the opening fence
        if key in lines:
            problems.append(Problem(path, line, key, f"duplicate key (first on line {lines[key]})"))
        lines[key] = line
    return lines


def _coerce_datetimes(data: dict[str, Any]) -> dict[str, Any]:
    """Turn ISO strings into datetimes (naive ones stay naive, so the schema rejects them)."""
    coerced = dict(data)
    for key in ("date", "send_at", "updated"):
        value = coerced.get(key)
        if isinstance(value, str):
            try:
                coerced[key] = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
            except ValueError:
                pass
        elif isinstance(value, date) and not isinstance(value, datetime):
            coerced[key] = datetime(value.year, value.month, value.day)  # noqa: DTZ001 - flagged below
    return coerced


def schema_problems(exc: ValidationError, path: Path, lines: dict[str, int]) -> list[Problem]:
    problems = []
    for error in exc.errors():
        field_name = ".".join(str(part) for part in error["loc"]) or None
        top = str(error["loc"][0]) if error["loc"] else None
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        elif error["type"] == "missing":
            message = "required key is missing"
        elif error["type"] == "timezone_aware":
            message = "needs a timezone, e.g. 2024-06-16T09:00:00+08:00"
        elif message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        line = lines.get(top, 1) if top else 1
        problems.append(Problem(path, line, field_name, message))
    return problems


def load_front_matter(text: str, path: Path) -> tuple[dict[str, Any], Any, str, int]:
    """The front matter's data and YAML node, the body, and the body's first line, for
    every file with front matter (issues and automation steps); located errors."""
    parts = split_front_matter(text)
    if parts is None:
        raise IssueFileError([Problem(path, 1, None, "missing front matter: start with '---'")])
    yaml_text, body, body_line = parts
    try:
        node = yaml.compose(yaml_text, Loader=UniqueKeyLoader)
        data = yaml.load(yaml_text, Loader=UniqueKeyLoader) if node is not None else {}
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 2 if mark is not None else 1
        reason = getattr(exc, "problem", None) or str(exc)
        raise IssueFileError([Problem(path, line, None, f"invalid YAML: {reason}")]) from exc
    if not isinstance(data, dict):
        raise IssueFileError([Problem(path, 2, None, "front matter must be a mapping of keys")])
    return data, node, body, body_line


def located_front_matter(text: str, path: Path, problems: list[Problem],
                         cache: FrontMatterCache | None = None,
                         ) -> tuple[dict[str, Any], dict[str, int], str, int]:
    """`load_front_matter` with each key's line instead of the node (a duplicate key is a
    problem added to `problems`); from `cache` when it parsed this very front matter."""
    parts = split_front_matter(text)
    if cache is not None and parts is not None:
        hit = cache.get(parts[0], path)
        if hit is not None:
            return hit[0], hit[1], parts[1], parts[2]
    data, node, body, body_line = load_front_matter(text, path)
    duplicates: list[Problem] = []
    lines = front_matter_lines(node, path, duplicates) if node is not None else {}
    problems.extend(duplicates)
    if cache is not None and parts is not None and not duplicates:
        cache.put(parts[0], path, data, lines)
    return data, lines, body, body_line


def parse_issue_text(text: str, path: Path, cache: FrontMatterCache | None = None) -> Issue:
    """Parse one issue file's text; raise IssueFileError with every problem found."""
    problems: list[Problem] = []
    data, lines, body, body_line = located_front_matter(text, path, problems, cache)
    try:
        meta = FrontMatter.model_validate(_coerce_datetimes(data))
    except ValidationError as exc:
        problems.extend(schema_problems(exc, path, lines))
        raise IssueFileError(problems) from exc
    problems.extend(_cross_key_problems(meta, path, lines))
    if problems:
        raise IssueFileError(problems)
    return Issue(path=path, meta=meta, body=body, body_line=body_line, key_lines=lines)


def _cross_key_problems(meta: FrontMatter, path: Path, lines: dict[str, int]) -> list[Problem]:
    """Rules that involve two keys, which the per-field schema cannot see."""
    if meta.updated is not None and meta.updated < meta.date:
        message = (f"{meta.updated.isoformat()} is earlier than date "
                   f"{meta.date.isoformat()}; an edit cannot precede publication")
        return [Problem(path, lines.get("updated", 1), "updated", message)]
    return []


def read_text(path: Path) -> str:
    """A Markdown file's text; unreadable or not UTF-8 is a problem naming the file."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise IssueFileError([Problem(path, None, None, f"not UTF-8: {exc.reason}")]) from exc
    except OSError as exc:
        raise IssueFileError([Problem(path, None, None, f"cannot read: {exc.strerror}")]) from exc


def read_issue(path: Path, cache: FrontMatterCache | None = None) -> Issue:
    """Read and parse one issue file (its front matter from `cache` when it has it)."""
    return parse_issue_text(read_text(path), path, cache)


def parse_translation_text(text: str, path: Path, original: Issue,
                           cache: FrontMatterCache | None = None) -> Issue:
    """Parse a translation of `original`; raise IssueFileError with every problem found."""
    problems: list[Problem] = []
    data, lines, body, body_line = located_front_matter(text, path, problems, cache)
    inherited = sorted(INHERITED_KEYS & set(data))
    problems += [Problem(path, lines.get(key, 1), key,
                         f"comes from the original ({original.path.name}); remove it here")
                 for key in inherited]
    try:
        own = TranslationMatter.model_validate(
            _coerce_datetimes({k: v for k, v in data.items() if k not in inherited}))
    except ValidationError as exc:
        raise IssueFileError(problems + schema_problems(exc, path, lines)) from exc
    if problems:
        raise IssueFileError(problems)
    language = translation_language(path) or original.language
    meta = original.meta.model_copy(update={
        "title": own.title, "summary": own.summary, "updated": own.updated,
        "language": language, "slug": original.slug})
    problems += _cross_key_problems(meta, path, lines)
    if problems:
        raise IssueFileError(problems)
    return Issue(path=path, meta=meta, body=body, body_line=body_line, key_lines=lines,
                 translation_of=original.path)


def variants(issue: Issue) -> list[Issue]:
    """An original and its translations, the original first, then by language."""
    return [issue, *(issue.translations[lang] for lang in sorted(issue.translations))]


def issue_files(paths: list[Path]) -> list[Path]:
    """Expand directories into their *.md files, sorted; files are kept as given."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.glob("*.md") if not p.name.startswith(".")))
        else:
            found.append(path)
    return found


def duplicate_slug_problems(issues: list[Issue]) -> list[Problem]:
    seen: dict[str, Issue] = {}
    problems = []
    for issue in issues:
        first = seen.get(issue.slug)
        if first is not None:
            message = f"duplicate slug {issue.slug!r} (also {first.path})"
            problems.append(Problem(issue.path, issue.slug_line, "slug", message))
        else:
            seen[issue.slug] = issue
    return problems


def duplicate_id_problems(issues: list[Issue]) -> list[Problem]:
    """Two issues with the same `id` would be one entry to every feed reader."""
    seen: dict[str, Issue] = {}
    problems = []
    for issue in issues:
        if issue.meta.id is None:
            continue
        first = seen.get(issue.meta.id)
        if first is not None:
            where = f"{first.path}:{first.key_lines.get('id', 1)}"
            problems.append(Problem(issue.path, issue.key_lines.get("id", 1), "id",
                                    f"duplicate of {where}"))
        else:
            seen[issue.meta.id] = issue
    return problems


def read_each(paths: list[Path],
              read: Callable[[Path], T]) -> tuple[list[T], list[Problem], list[Path]]:
    """Read every Markdown file under `paths` with `read`: what it read, every problem of the
    files it could not read, and those files (one broken file never hides another's)."""
    items: list[T] = []
    problems: list[Problem] = []
    failed: list[Path] = []
    for path in issue_files(paths):
        try:
            items.append(read(path))
        except IssueFileError as exc:
            problems.extend(exc.problems)
            failed.append(path)
    return items, problems, failed


def read_issues(paths: list[Path], cache: FrontMatterCache | None = None,
                ) -> tuple[list[Issue], list[Problem], list[Path]]:
    """Read every issue file: the good originals (by date) with their translations, all
    problems, and the failed paths. A translation named alone brings its original. With
    `cache`, front matter parsed before (the same text) is not parsed again."""
    files = issue_files(paths)
    translations = [path for path in files if translation_language(path)]

    def read(path: Path) -> Issue:
        return read_issue(path, cache)

    def read_translation(path: Path, original: Issue) -> tuple[str, Issue]:
        translation = parse_translation_text(read_text(path), path, original, cache)
        return translation.language, translation

    issues, problems, failed = read_each([p for p in files if p not in translations], read)
    problems.extend(duplicate_slug_problems(issues))
    problems.extend(duplicate_id_problems(issues))
    issues = attach_translations(issues, translations, problems, failed, read,
                                 read_translation)
    return sorted(issues, key=lambda issue: (issue.published, issue.slug)), problems, failed


def read_variant(path: Path) -> Issue:
    """One file as what it is: an issue, or a translation read with its original."""
    if translation_language(path) is None:
        return read_issue(path)
    issues, problems, _failed = read_issues([path])
    if problems:
        raise IssueFileError(problems)
    return next(variant for issue in issues for variant in variants(issue)
                if variant.path == path)


class Translatable(Protocol):
    """An issue or an automation step: a dataclass read from a file, carrying its
    translations by language."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    @property
    def path(self) -> Path: ...

    @property
    def translations(self) -> Mapping[str, Any]: ...


Original = TypeVar("Original", bound=Translatable)


def attach_translations(
        originals: list[Original], translations: list[Path], problems: list[Problem],
        failed: list[Path], read_original: Callable[[Path], Original],
        read_translation: Callable[[Path, Original], tuple[str, Any]]) -> list[Original]:
    """Attach each translation (read_translation gives its language and itself) to its
    original (read from beside it when it was not among the files); a translation whose
    original is missing is a problem of its own. Issues and automation steps alike."""
    by_path = {original.path.resolve(): original for original in originals}
    broken = {path.resolve() for path in failed}
    for path in translations:
        source = original_path(path).resolve()
        if source in broken:
            continue  # the original's problems are reported; its translations wait for it
        try:
            original = by_path.get(source) or read_original(existing_original(path))
            language, translation = read_translation(path, original)
        except IssueFileError as exc:
            problems.extend(exc.problems)
            failed.append(path)
            continue
        by_path[source] = replace(original, translations={
            **original.translations, language: translation})
    return list(by_path.values())


def existing_original(path: Path) -> Path:
    """The original beside a translation (of an issue or of an automation step), or an
    IssueFileError saying that it is missing and how a translation is named."""
    source = original_path(path)
    if not source.is_file():
        raise IssueFileError([Problem(path, 1, None, (
            f"a translation of {source.name}, which does not exist: a translation is named "
            "after its original (<name>.<language>.md beside <name>.md)"))])
    return source

