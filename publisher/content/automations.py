"""Read automation step files (automations/*.md: front matter + Markdown) into Step objects.

A step is a mail that a subscriber gets `after` a delay from confirming: `after: 0` is the
welcome, `after: 3d` the day-3 step. Steps go out in the order of their delay, then of their
file name. Problems are located (`file:line: field: message`) and collected for the whole
folder, as for issues (publisher.content.issues, whose YAML reading this module shares).
A step renders through the same issue template: `as_issue` gives the Issue it is drawn as.

A step may have translations as sibling files, as an issue does (`welcome.en.md` beside
`welcome.md`): its own title, summary and body, everything else (`after`, `authors`, …)
from the original, its language from the file name. `read_steps` returns originals only,
each with its translations by language (`Step.translations`), so a translation is never a
step of its own; `as_issue` carries them over, so `publisher check` checks them as it does
an issue's translations (the site's languages, the original's sections and links).
Pure: text in, objects out; no database, no clock.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from publisher.content.issues import (
    FrontMatter,
    Issue,
    attach_translations,
    front_matter_lines,
    issue_files,
    language_tag,
    load_front_matter,
    read_each,
    read_text,
    schema_problems,
    single_line,
    slug_from_path,
    translation_language,
)
from publisher.errors import IssueFileError, Problem

SEND_PREFIX = "automation:"  # a send's slug; ':' is never in an issue's slug, so no clash
DELAY = re.compile(r"^(?:0|([1-9][0-9]{0,5})([mhdw]))$")
UNITS = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1),
         "w": timedelta(weeks=1)}
DELAY_HINT = "write 0, or a number and a unit: 30m, 12h, 3d, 2w"


def step_slug(name: str) -> str:
    """The send slug a step is named by on the command line: `day-3` or `automation:day-3`."""
    return name if name.startswith(SEND_PREFIX) else SEND_PREFIX + name


def parse_delay(value: object) -> timedelta:
    """`0`, `30m`, `12h`, `3d`, `2w` -> a timedelta; anything else is a ValueError."""
    text = str(value).strip() if isinstance(value, str | int) else ""
    found = DELAY.match(text) if not isinstance(value, bool) else None
    if found is None:
        raise ValueError(f"{value!r} is not a delay: {DELAY_HINT}")
    if found.group(1) is None:
        return timedelta(0)
    return int(found.group(1)) * UNITS[found.group(2)]


def delay_label(delay: timedelta) -> str:
    """A delay the way a step file writes it (the largest whole unit)."""
    if not delay:
        return "0"
    for unit in ("w", "d", "h", "m"):
        if delay % UNITS[unit] == timedelta(0):
            return f"{delay // UNITS[unit]}{unit}"
    return str(delay)


class StepMeta(BaseModel):
    """The schema of a step's front matter: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = Field(min_length=1, max_length=300)  # the subject line
    after: timedelta
    summary: str = Field(default="", max_length=1000)
    authors: list[str] = Field(default_factory=list)
    language: str | None = None  # None: the site's
    draft: bool = False
    send_latest_issue: bool = False

    @field_validator("after", mode="before")
    @classmethod
    def _delay(cls, value: object) -> timedelta:
        return parse_delay(value)

    @field_validator("title", "summary")
    @classmethod
    def _single_line(cls, value: str) -> str:
        return single_line(value)

    @field_validator("language")
    @classmethod
    def _bcp47(cls, value: str | None) -> str | None:
        return None if value is None else language_tag(value)


class StepTranslationMatter(BaseModel):
    """The front matter of a step's translation: what a reader reads, nothing else."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = Field(min_length=1, max_length=300)
    summary: str = Field(default="", max_length=1000)

    @field_validator("title", "summary")
    @classmethod
    def _single_line(cls, value: str) -> str:
        return single_line(value)


# Keys a step's translation takes from its original: writing one in it is an error.
INHERITED_STEP_KEYS = (frozenset(StepMeta.model_fields)
                       - frozenset(StepTranslationMatter.model_fields))


@dataclass(frozen=True)
class Step:
    """One automation step: its front matter, Markdown body, and where it came from; an
    original carries its translations by language, a translation its original's file."""

    path: Path
    meta: StepMeta
    body: str
    body_line: int
    key_lines: dict[str, int] = field(default_factory=dict)
    translations: Mapping[str, Step] = field(default_factory=dict, compare=False)
    translation_of: Path | None = None

    @property
    def name(self) -> str:
        """The step's name: its (original's) file name, as a slug (what the CLI shows)."""
        return slug_from_path(self.translation_of or self.path)

    @property
    def send_slug(self) -> str:
        """The slug of the step's send in the outbox."""
        return SEND_PREFIX + self.name

    @property
    def delay(self) -> timedelta:
        return self.meta.after

    def as_issue(self, date: datetime, site_language: str) -> Issue:
        """The Issue this step is drawn as, dated `date` (its send's start), with its
        translations drawn alike (a translation keeps its original's name as slug)."""
        meta = FrontMatter(title=self.meta.title, date=date, summary=self.meta.summary,
                           authors=self.meta.authors,
                           language=self.meta.language or site_language,
                           slug=self.name if self.translation_of is not None else None)
        return Issue(path=self.path, meta=meta, body=self.body, body_line=self.body_line,
                     key_lines=self.key_lines, translation_of=self.translation_of,
                     translations={language: step.as_issue(date, site_language)
                                   for language, step in self.translations.items()})


def step_variants(step: Step) -> list[Step]:
    """A step and its translations, the original first, then by language."""
    return [step, *(step.translations[lang] for lang in sorted(step.translations))]


def parse_step_text(text: str, path: Path) -> Step:
    """Parse one step file's text; raise IssueFileError with every problem found."""
    data, node, body, body_line = load_front_matter(text, path)
    problems: list[Problem] = []
    lines = front_matter_lines(node, path, problems) if node is not None else {}
    try:
        meta = StepMeta.model_validate(data)
    except ValidationError as exc:
        raise IssueFileError(problems + schema_problems(exc, path, lines)) from exc
    if meta.send_latest_issue and meta.after:
        problems.append(Problem(path, lines.get("send_latest_issue", 1), "send_latest_issue",
                                "only a welcome (after: 0) sends the latest issue"))
    if problems:
        raise IssueFileError(problems)
    return Step(path=path, meta=meta, body=body, body_line=body_line, key_lines=lines)


def read_step(path: Path) -> Step:
    """Read and parse one step file."""
    return parse_step_text(read_text(path), path)


def parse_step_translation(text: str, path: Path, original: Step) -> Step:
    """Parse a translation of the step `original`; IssueFileError with every problem."""
    data, node, body, body_line = load_front_matter(text, path)
    problems: list[Problem] = []
    lines = front_matter_lines(node, path, problems) if node is not None else {}
    problems += [Problem(path, lines.get(key, 1), key,
                         f"comes from the original ({original.path.name}); remove it here")
                 for key in sorted(INHERITED_STEP_KEYS & set(data))]
    try:
        own = StepTranslationMatter.model_validate(
            {k: v for k, v in data.items() if k not in INHERITED_STEP_KEYS})
    except ValidationError as exc:
        raise IssueFileError(problems + schema_problems(exc, path, lines)) from exc
    if problems:
        raise IssueFileError(problems)
    meta = original.meta.model_copy(update={"title": own.title, "summary": own.summary,
                                            "language": translation_language(path)})
    return Step(path=path, meta=meta, body=body, body_line=body_line, key_lines=lines,
                translation_of=original.path)


def _duplicate_names(steps: list[Step]) -> list[Problem]:
    """Two files whose names make the same slug (`Day-3.md`, `day 3.md`) would share a send."""
    seen: dict[str, Path] = {}
    problems = []
    for step in steps:
        if step.name in seen:
            problems.append(Problem(step.path, 1, None,
                                    f"same step name {step.name!r} as {seen[step.name]}"))
        seen.setdefault(step.name, step.path)
    return problems


def read_steps(paths: list[Path]) -> tuple[list[Step], list[Problem], list[Path]]:
    """Every step file: the good steps (in sending order) with their translations, all
    problems, the failed paths. A translation named alone brings its original."""
    files = issue_files(paths)
    translations = [path for path in files if translation_language(path)]
    steps, problems, failed = read_each([p for p in files if p not in translations], read_step)
    problems.extend(_duplicate_names(steps))
    steps = attach_translations(steps, translations, problems, failed, read_step,
                                _read_step_translation)
    return sorted(steps, key=lambda step: (step.delay, step.name)), problems, failed


def _read_step_translation(path: Path, original: Step) -> tuple[str, Step]:
    translation = parse_step_translation(read_text(path), path, original)
    return str(translation.meta.language), translation
