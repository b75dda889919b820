"""Checks before anything is built or sent, without the network.

An issue is checked fully (front matter, body, and its email rendered, within the size
limit), every problem located in its file and reported at once; the build and the send
both go through `check_issue(s)`, so what passes one passes the other. Automation steps
(publisher.content.automations) are checked and rendered the same way by `check_steps`.
A translation (`<name>.<lang>.md`) of an issue or of a step is checked as an issue is, and
against its original.
`publisher check --deliverability` adds the findings below (DKIM, links, email size).
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TypeVar

from publisher import urls
from publisher.config import GMAIL_CLIP_BYTES, LOOPBACK_HOSTS, Config, Secrets
from publisher.content import audience_expressions
from publisher.content.automations import Step, read_steps, step_variants
from publisher.content.issues import Issue, read_issues, variants
from publisher.content.lint import (
    body_problems,
    divergence_problems,
    raw_body_problems,
    translation_language_problems,
)
from publisher.content.markup import parse, to_html
from publisher.errors import ConfigError, IssueFileError, Problem
from publisher.mail.dkim_signing import keys_from_config
from publisher.mail.render import edition_url, render_email
from publisher.mail.rendered import RenderedEmail

T = TypeVar("T")

MIN_TEXT_COVERAGE = 0.9
LARGEST_SECTIONS = 3  # how many sections an over-size error names


def check_issues(paths: list[Path], config: Config, *,
                 translations: bool = False) -> list[tuple[Issue, RenderedEmail]]:
    """Load and fully check issues (front matter, body, email size); all problems at once.

    Returns each issue with its rendered email, so a build renders each email only once;
    with `translations`, each translation read follows its original, checked alike.
    """
    issues, problems, failed = read_issues(paths)
    if translations:
        issues = [variant for issue in issues for variant in variants(issue)]
    return _every_one_checked(issues, problems, failed, lambda issue: check_issue(issue, config))


def _every_one_checked(
        items: list[T], problems: list[Problem], failed: list[Path],
        check: Callable[[T], tuple[RenderedEmail | None, list[Problem]]],
) -> list[tuple[T, RenderedEmail]]:
    """Each file read with its email; every problem of every file (those that could not be
    read get their raw body checked too) raised together."""
    problems = list(problems)
    for path in failed:
        problems.extend(raw_body_problems(path))
    checked: list[tuple[T, RenderedEmail]] = []
    for item in items:
        rendered, found = check(item)
        problems.extend(found)
        if rendered is not None:
            checked.append((item, rendered))
    if problems:
        raise IssueFileError(problems)
    return checked


def check_issue(issue: Issue, config: Config) -> tuple[RenderedEmail | None, list[Problem]]:
    """One issue's problems (body; audience tags the settings do not declare) and its email
    (None when it is over the size limit)."""
    problems = (body_problems(issue) + audience_problems(issue, config)
                + translations_problems(issue, config))
    try:
        return render_email(issue, config), problems
    except IssueFileError as exc:  # the only one render_email raises: the size limit
        return None, problems + [_with_largest_sections(p, issue) for p in exc.problems]


def translations_problems(issue: Issue, config: Config) -> list[Problem]:
    """Each translation of an original in a language the site publishes, with the original's
    sections and links (a translation's own body is checked as an issue's is)."""
    site = config.site
    problems: list[Problem] = []
    for translation in issue.translations.values():
        problems += translation_language_problems(translation, issue, site.languages,
                                                  site.language)
        problems += divergence_problems(translation, issue)
    return problems


def audience_problems(issue: Issue, config: Config) -> list[Problem]:
    """An `audience` naming a tag no topic or [audience] tags entry declares, or a `lang:`
    term for a language the site does not publish in."""
    if issue.meta.audience is None:
        return []
    expression = audience_expressions.parse(issue.meta.audience)
    unknown = audience_expressions.unknown_tags(expression, config.known_tags)
    languages = config.site.languages
    unknown_in = audience_expressions.unknown_languages(expression, languages)
    messages = ([audience_expressions.unknown_tags_message(unknown, config.known_tags)]
                if unknown else [])
    if unknown_in:
        messages.append(audience_expressions.unknown_languages_message(unknown_in, languages))
    return [Problem(issue.path, issue.key_lines.get("audience", 1), "audience", message)
            for message in messages]


def check_steps(paths: list[Path], config: Config, date: datetime, *,
                translations: bool = False) -> list[tuple[Step, RenderedEmail]]:
    """Load and fully check automation steps, as `check_issues` does issues; each step's
    email is rendered as dated `date`; with `translations`, each translation follows its
    original, checked alike."""
    steps, problems, failed = read_steps(paths)
    if translations:
        steps = [variant for step in steps for variant in step_variants(step)]
    return _every_one_checked(steps, problems, failed,
                              lambda step: check_step(step, config, date))


def check_step(step: Step, config: Config,
               date: datetime) -> tuple[RenderedEmail | None, list[Problem]]:
    """A step's body problems and its email, drawn as an issue dated `date`. A step has no
    page of its own, so its "view in browser" link leads to the archive's home (and a
    translated step's links to the root edition's: a language's edition may not exist)."""
    issue = step.as_issue(date, config.site.language)
    rendered, problems = check_issue(issue, config)
    if rendered is None:
        return None, problems
    return _step_email(step, issue, rendered, config), problems


def step_in_reader_strings(step: Step, config: Config, date: datetime,
                           reader_language: str) -> RenderedEmail:
    """A step's email (already checked by `check_step`) with its fixed strings in
    `reader_language`: the edition of a reader whose language has no translation of it."""
    issue = step.as_issue(date, config.site.language)
    return _step_email(step, issue, render_email(issue, config, reader_language), config)


def _step_email(step: Step, issue: Issue, rendered: RenderedEmail,
                config: Config) -> RenderedEmail:
    root = config.site.base_url
    edition = edition_url(issue, root)
    swaps = [(urls.issue_url(edition, step.name), root + "/"),
             (urls.feed_url(edition), urls.feed_url(root))]
    html, text = rendered.html, rendered.text
    for link, kept in swaps:
        html, text = html.replace(link, kept), text.replace(link, kept)
    return replace(rendered, slug=step.send_slug, html=html, text=text)


def _with_largest_sections(problem: Problem, issue: Issue) -> Problem:
    """Point an over-size error at the largest `##` sections, so the author knows what to cut."""
    largest = sorted(_section_sizes(issue), key=lambda s: s[2], reverse=True)[:LARGEST_SECTIONS]
    if not largest:
        return problem
    named = ", ".join(f'"{title}" (line {line}) {size:,} bytes' for title, line, size in largest)
    return Problem(problem.path, largest[0][1], problem.field,
                   f"{problem.message}; largest sections: {named}")


def _section_sizes(issue: Issue) -> list[tuple[str, int, int]]:
    """(heading, file line, bytes of email HTML) of each `##` section of an issue's body."""
    lines = issue.body.split("\n")
    tokens = parse(issue.body)
    starts = [(token.map[0], tokens[index + 1].content) for index, token in enumerate(tokens)
              if token.type == "heading_open" and token.tag == "h2" and token.map]
    ends = [start for start, _ in starts[1:]] + [len(lines)]
    return [(title, issue.body_line + start,
             len(to_html("\n".join(lines[start:end]), email=True).encode("utf-8")))
            for (start, title), end in zip(starts, ends, strict=True)]


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    detail: str


def _aligned(from_domain: str, dkim_domain: str) -> bool:
    """Relaxed DMARC alignment: the same domain, or one a subdomain of the other."""
    a, b = from_domain.lower(), dkim_domain.lower()
    return a == b or a.endswith("." + b) or b.endswith("." + a)


def dkim_findings(config: Config, secrets: Secrets) -> list[Finding]:
    settings = config.settings.dkim
    from_domain = config.settings.sender.from_address.rsplit("@", 1)[1]
    if not settings.selector or not settings.domain:
        return [Finding("dkim", False, "dkim.selector and dkim.domain are not set")]
    try:
        keys = keys_from_config(config, secrets)
    except ConfigError as exc:
        return [Finding("dkim", False, str(exc))]
    if not keys:
        return [Finding("dkim", False, "no key: set dkim.key_path or PUBLISHER_DKIM_PRIVATE_KEY")]
    findings = [Finding("dkim", True, f"{k.algorithm.decode()} key for "
                        f"{k.selector}._domainkey.{k.domain}; publish: {k.zone_line()}")
                for k in keys]
    findings.append(Finding("alignment", _aligned(from_domain, settings.domain),
                            f"From domain {from_domain} vs DKIM d={settings.domain}"))
    return findings


def url_findings(config: Config) -> list[Finding]:
    base = config.site.base_url
    host = base.split("://", 1)[1].split("/", 1)[0].split(":", 1)[0]
    secure = base.startswith("https://") or host in LOOPBACK_HOSTS
    detail = (f"unsubscribe links use {base}"
              + ("" if base.startswith("https://") else " (plain http: only for local testing)"))
    return [Finding("https-unsubscribe", secure, detail)]


def _visible_text_tokens(html: str) -> set[str]:
    body = re.sub(r"(?is)<(style|head|title)[^>]*>.*?</\1>", " ", html)
    body = re.sub(r"(?s)<!--.*?-->", " ", body)
    return _tokens(html_lib.unescape(re.sub(r"<[^>]+>", " ", body)))


def _tokens(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z0-9]{2,}|[\u4e00-\u9fff]", text))


def email_findings(slug: str, rendered: RenderedEmail) -> list[Finding]:
    size_ok = rendered.html_bytes < GMAIL_CLIP_BYTES
    html_tokens = _visible_text_tokens(rendered.html)
    text_tokens = _tokens(rendered.text)
    coverage = len(html_tokens & text_tokens) / max(1, len(html_tokens))
    return [
        Finding(f"{slug}: html size", size_ok,
                f"{rendered.html_bytes:,} bytes (Gmail clips at {GMAIL_CLIP_BYTES:,})"),
        Finding(f"{slug}: text part", bool(rendered.text.strip()) and
                coverage >= MIN_TEXT_COVERAGE,
                f"{coverage:.0%} of the HTML's words are in the text part"),
    ]
