"""The build pipeline: issue files -> Issue objects -> email, feeds and archive -> public/."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from publisher.config import Config
from publisher.email_render import RenderedEmail, render_email
from publisher.errors import IssueFileError
from publisher.issues import Issue, read_issues
from publisher.lint import body_problems, raw_body_problems


@dataclass
class BuildReport:
    """What a build wrote, for the CLI to print and tests to inspect."""

    issues: list[Issue] = field(default_factory=list)
    emails: dict[str, RenderedEmail] = field(default_factory=dict)
    written: list[Path] = field(default_factory=list)


def check_issues(paths: list[Path], config: Config) -> list[tuple[Issue, RenderedEmail]]:
    """Load and fully check issues (front matter, body, email size); all problems at once.

    Returns each issue with its rendered email, so a build renders each email only once.
    """
    issues, problems, failed = read_issues(paths)
    for path in failed:
        problems.extend(raw_body_problems(path))
    checked: list[tuple[Issue, RenderedEmail]] = []
    for issue in issues:
        problems.extend(body_problems(issue))
        try:
            checked.append((issue, render_email(issue, config)))
        except IssueFileError as exc:
            problems.extend(exc.problems)
    if problems:
        raise IssueFileError(problems)
    return checked


def write_if_changed(path: Path, content: str | bytes) -> bool:
    """Write only when the content differs, so unchanged outputs keep their mtime."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    if path.exists() and path.read_bytes() == data:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return True


def email_paths(output_dir: Path, slug: str) -> tuple[Path, Path]:
    base = output_dir / "issues" / slug
    return base / "email.html", base / "email.txt"


def write_emails(config: Config, report: BuildReport) -> None:
    for slug, rendered in report.emails.items():
        html_path, text_path = email_paths(config.output_dir, slug)
        for path, content in ((html_path, rendered.html), (text_path, rendered.text)):
            if write_if_changed(path, content):
                report.written.append(path)


def build_site(config: Config, now: datetime) -> BuildReport:
    """Check every issue, then write emails (and, as features land, feeds and archive)."""
    report = BuildReport()
    checked = check_issues([config.issues_dir], config)
    report.issues = [issue for issue, _ in checked]
    report.emails = {issue.slug: rendered for issue, rendered in checked}
    write_emails(config, report)
    del now  # feeds and archive use it to leave out future-dated issues
    return report
