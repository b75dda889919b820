"""Verbs for authors: new, check, build, preview."""

from __future__ import annotations

import os
import re
from pathlib import Path

import click
from rich.console import Console

from publisher import preflight
from publisher.build import build_site, check_issues, email_paths, preview_dir, write_if_changed
from publisher.clock import utc_now
from publisher.config import Config, load_secrets
from publisher.email_render import RenderedEmail, render_email
from publisher.errors import PublisherError
from publisher.issues import Issue, read_issue
from publisher.scaffold import new_issue_text, slugify

console = Console(stderr=True)


@click.command("new")
@click.argument("title")
@click.option("--slug", default=None, help="File name stem (default: date + title).")
@click.option("--language", default=None, help="BCP 47 tag (default: the site's language).")
@click.pass_obj
def new_command(config: Config, title: str, slug: str | None, language: str | None) -> None:
    """Scaffold a new issue file dated now in the configured timezone."""
    now = utc_now().astimezone(config.site.zone)
    stem = slug or f"{now:%Y-%m-%d}-{slugify(title)}"
    if not re.match(r"^[a-z0-9][a-z0-9-]*$", stem):
        raise click.BadParameter("use lower-case letters, digits and hyphens", param_hint="--slug")
    path = config.issues_dir / f"{stem}.md"
    if path.exists():
        raise PublisherError(f"{path}: already exists")
    text = new_issue_text(title, now, language or config.site.language, config.site.domain, stem)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    click.echo(str(path))


@click.command("check")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--deliverability", is_flag=True,
              help="Also check DKIM, alignment, HTTPS links, size and the text part.")
@click.pass_obj
def check_command(config: Config, paths: tuple[Path, ...], deliverability: bool) -> None:
    """Validate issue files; report every problem at once as file:line: field: message."""
    targets = list(paths) or [config.issues_dir]
    for target in targets:
        if not target.exists():
            raise PublisherError(f"{target}: no such file or directory")
    checked = check_issues(targets, config)
    for issue, rendered in checked:
        size = f"{rendered.html_bytes:,} bytes of email HTML"
        console.print(f"[green]ok[/green] {issue.path} ({size})")
    if deliverability:
        _report_deliverability(config, checked)


def _report_deliverability(config: Config, checked: list[tuple[Issue, RenderedEmail]]) -> None:
    findings = [*preflight.dkim_findings(config, load_secrets(os.environ)),
                *preflight.url_findings(config)]
    for issue, rendered in checked:
        findings.extend(preflight.email_findings(issue.slug, rendered))
    for finding in findings:
        mark = "[green]ok[/green]  " if finding.ok else "[red]fail[/red]"
        console.print(f"{mark} {finding.check}: {finding.detail}", soft_wrap=True)
    failed = [f for f in findings if not f.ok]
    if failed:
        raise PublisherError(f"{len(failed)} deliverability check(s) failed")


@click.command("build")
@click.pass_obj
def build_command(config: Config) -> None:
    """Build feeds, archive and published emails into the output directory.

    The emails of drafts and future issues go to the private var/preview/ instead."""
    report = build_site(config, utc_now())
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
def preview_command(config: Config, file: Path, out: Path | None, screenshot: bool) -> None:
    """Write one issue's email to a private folder, optionally with screenshots."""
    out_dir = out or preview_dir(config)
    if out_dir.resolve().is_relative_to(config.output_dir.resolve()):
        raise click.BadParameter(f"{out_dir} is inside the output directory, which is served "
                                 "to anyone; previews stay private", param_hint="--out")
    issue = read_issue(file)
    check_issues([file], config)
    rendered = render_email(issue, config)
    html_path, text_path = email_paths(out_dir, issue.slug)
    write_if_changed(html_path, rendered.html)
    write_if_changed(text_path, rendered.text)
    click.echo(str(html_path))
    click.echo(str(text_path))
    if screenshot:
        from publisher.screenshot import shoot

        for shot in shoot(html_path.resolve().as_uri(), html_path.parent, [375, 600], stem="email"):
            click.echo(str(shot.path))


COMMANDS: list[click.Command] = [new_command, check_command, build_command, preview_command]
