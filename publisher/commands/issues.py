"""Verbs for authors: new, check (issues and automation steps), build, preview."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import click
from rich.console import Console

from publisher.commands.automations import print_rename_warnings
from publisher.commands.context import Context
from publisher.config import Config, Secrets
from publisher.content.issues import read_issues, read_variant
from publisher.content.lint import literal_emphasis_warnings
from publisher.content.scaffold import free_stem, new_entry_id, new_issue_text, slugify
from publisher.content.translations import stale_translation_warnings
from publisher.errors import IssueFileError, Problem, PublisherError
from publisher.mail import checks
from publisher.mail.render import (
    SAMPLE_TOKEN,
    personalise,
    render_email,
    sample_recipient,
)
from publisher.mail.rendered import RenderedEmail
from publisher.site.build import (
    build_site,
    email_paths,
    preview_dir,
    write_if_changed,
)
from publisher.urls import is_local_host

console = Console(stderr=True)


@click.command("new")
@click.argument("title")
@click.option("--slug", default=None, help="File name stem (default: date + title).")
@click.option("--language", default=None, help="BCP 47 tag (default: the site's language).")
@click.option("--domain", default=None,
              help="The site's public domain for the permanent id (default: site.base_url's).")
@click.pass_obj
def new_command(context: Context, title: str, slug: str | None, language: str | None,
                domain: str | None) -> None:
    """Scaffold a new issue file dated now in the configured timezone."""
    config = context.config
    domain = _id_domain(config, domain)
    now = context.clock().astimezone(config.site.zone)
    if slug is not None and not re.match(r"^[a-z0-9][a-z0-9-]*$", slug):
        raise click.BadParameter("use lower-case letters, digits and hyphens", param_hint="--slug")
    taken = _taken_by(config, now, domain)
    if slug is not None:
        if reason := taken(slug):
            raise PublisherError(f"{config.issues_dir / slug}.md: {reason}")
        stem = slug
    else:
        wanted = f"{now:%Y-%m-%d}-{slugify(title)}"
        stem = free_stem(wanted, lambda candidate: bool(taken(candidate)))
        if stem != wanted:
            click.echo(f"{config.issues_dir / wanted}.md: {taken(wanted)}; "
                       f"numbered this one {stem}", err=True)
    path = config.issues_dir / f"{stem}.md"
    text = new_issue_text(title, now, language or config.site.language, domain, stem)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    click.echo(str(path))


def _id_domain(config: Config, given: str | None) -> str:
    """The domain a new issue's permanent id is made from: --domain, else base_url's, never a
    loopback address (asked for on a terminal, refused in one line otherwise)."""
    domain = (given or config.site.domain).strip().lower()
    if not is_local_host(domain):
        return domain
    if given is None and sys.stdin.isatty():
        click.echo(f"site.base_url is {config.site.base_url}, a local address; an issue's id "
                   "never changes once published, so it needs your site's public domain.",
                   err=True)
        return _id_domain(config, click.prompt("Your site's domain (e.g. digest.example.org)"))
    source = config.file or "publisher.toml"
    raise PublisherError(
        f"{source}: site.base_url: {config.site.base_url} is a local address, and an issue's "
        "id never changes once published: set base_url to your site's public address, or pass "
        "--domain digest.example.org")


def _taken_by(config: Config, now: datetime, domain: str) -> Callable[[str], str]:
    """Why a file stem cannot be used ('' when it can): its file exists, or an existing
    issue already has it as its slug or holds the id it would get."""
    issues, _, _ = read_issues([config.issues_dir]) if config.issues_dir.is_dir() else ([], [], [])
    slugs = {issue.slug: issue.path for issue in issues}
    ids = {issue.meta.id: issue.path for issue in issues if issue.meta.id}

    def reason(stem: str) -> str:
        if (config.issues_dir / f"{stem}.md").exists():
            return "already exists"
        if stem in slugs:
            return f"slug already used by {slugs[stem]}"
        entry_id = new_entry_id(domain, now, stem)
        if entry_id in ids:
            return f"id {entry_id} already used by {ids[entry_id]}"
        return ""

    return reason


@click.command("check")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--deliverability", is_flag=True,
              help="Also check DKIM, alignment, HTTPS links, size and the text part.")
@click.pass_obj
def check_command(context: Context, paths: tuple[Path, ...], deliverability: bool) -> None:
    """Validate issue and automation files; report every problem at once as
    file:line: field: message."""
    config = context.config
    targets = list(paths) or [config.issues_dir, *(
        [config.automations_dir] if config.automations_dir.is_dir() else [])]
    if not paths and not config.issues_dir.is_dir():
        raise PublisherError(config.missing_folder("issues"))
    for target in targets:
        if not target.exists():
            raise PublisherError(f"{target}: no such file or directory")
    steps = [t for t in targets if _in_automations(config, t)]
    problems: list[Problem] = []
    checked: list[tuple[Path, str, RenderedEmail]] = []
    try:
        checked += [(issue.path, issue.slug, rendered) for issue, rendered in
                    checks.check_issues([t for t in targets if t not in steps], config,
                                        translations=True)]
    except IssueFileError as exc:
        problems += exc.problems
    good_steps = []
    try:
        good_steps = checks.check_steps(steps, config, context.clock(), translations=True)
        checked += [(step.path, step.send_slug, rendered) for step, rendered in good_steps]
    except IssueFileError as exc:
        problems += exc.problems
    if problems:
        raise IssueFileError(problems)
    for path, _slug, rendered in checked:
        # One plain line per file, never wrapped: scripts read these.
        click.echo(f"ok {path} ({rendered.html_bytes:,} bytes of email HTML)")
        for warning in literal_emphasis_warnings(path) + stale_translation_warnings(path):
            click.echo(f"warning: {warning}", err=True)
    print_rename_warnings(context, [step for step, _rendered in good_steps
                                    if step.translation_of is None])
    if deliverability:
        _report_deliverability(config, context.secrets,
                               [(slug, rendered) for _path, slug, rendered in checked])


def _in_automations(config: Config, target: Path) -> bool:
    """Whether a `check` target is the automations folder or a file in it."""
    return target.resolve().is_relative_to(config.automations_dir.resolve())


def _report_deliverability(config: Config, secrets: Secrets,
                           checked: list[tuple[str, RenderedEmail]]) -> None:
    findings = [*checks.dkim_findings(config, secrets),
                *checks.url_findings(config)]
    for slug, rendered in checked:
        findings.extend(checks.email_findings(slug, rendered))
    for finding in findings:
        mark = "[green]ok[/green]  " if finding.ok else "[red]fail[/red]"
        console.print(f"{mark} {finding.check}: {finding.detail}", soft_wrap=True)
    failed = [f for f in findings if not f.ok]
    if failed:
        raise PublisherError(f"{len(failed)} deliverability check(s) failed")


@click.command("build")
@click.option("--full", is_flag=True,
              help="Check and render every issue again, ignoring the build cache "
                   "(<output>/.cache/); the result is the same.")
@click.pass_obj
def build_command(context: Context, full: bool) -> None:
    """Build feeds, archive and published emails into the output directory.

    The emails of drafts and future issues go to the private var/preview/ instead. Only
    what changed since the last build is rendered again; nothing at all when nothing did."""
    config = context.config
    report = build_site(config, context.clock(), full=full)
    if report.up_to_date:
        console.print(f"{config.output_dir} is up to date: nothing changed since the last build")
        return
    console.print(
        f"built {len(report.issues)} issue(s) into {config.output_dir} "
        f"({len(report.written)} file(s) changed)"
    )


@click.command("preview")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Directory for the preview (default: var/preview; never the output "
                   "directory, which is public).")
@click.option("--screenshot", is_flag=True, help="Also save PNGs at 375 and 600 px (Chromium).")
@click.pass_obj
def preview_command(context: Context, file: Path, out: Path | None, screenshot: bool) -> None:
    """Write one issue's email to a private folder, optionally with screenshots.

    The email is addressed to a sample reader, so it shows what a subscriber sees."""
    config = context.config
    out_dir = out or preview_dir(config)
    if out_dir.resolve().is_relative_to(config.output_dir.resolve()):
        raise click.BadParameter(f"{out_dir} is inside the output directory, which is served "
                                 "to anyone; previews stay private", param_hint="--out")
    issue = read_variant(file)  # a translation previews in its language
    if screenshot:
        from publisher.dev.screenshot import require_font

        require_font(issue.language)
    checks.check_issues([file], config)
    rendered = render_email(issue, config)
    reader = sample_recipient(config.site.base_url)
    html, text = personalise(rendered, reader)
    html_path, text_path = email_paths(out_dir, issue.slug)
    write_if_changed(html_path, html)
    write_if_changed(text_path, text)
    click.echo(str(html_path))
    click.echo(str(text_path))
    click.echo(f"addressed to a sample reader, {reader.name} <{reader.email}>; its unsubscribe "
               f"and preferences links carry the token {SAMPLE_TOKEN!r} and lead nowhere",
               err=True)
    if screenshot:
        from publisher.dev.screenshot import shoot

        for shot in shoot(html_path.resolve().as_uri(), html_path.parent, [375, 600], stem="email"):
            click.echo(str(shot.path))


COMMANDS: list[click.Command] = [new_command, check_command, build_command, preview_command]
