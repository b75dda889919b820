"""`publisher init [DIR]`: a new site in an empty folder, ready for check, build and demo."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import click

from publisher.commands.context import Context
from publisher.site.starter import SiteAnswers, starter_files, write_site

NEXT_STEPS = """\
Next, in {folder}:
  publisher check                 # the example issue passes
  publisher demo                  # build, then send it to five demo readers in a local catcher
  publisher new "My first issue"  # write your own (set site.base_url to your domain first)
  publisher preview issues/FILE.md
  publisher build                 # public/: archive, feeds, emails
  export PUBLISHER_SECRET_KEY=$(publisher secret-key)
  publisher dev catch &           # see the mails on this machine
  publisher serve                 # http://127.0.0.1:8000: subscribe, confirm, /admin
  publisher send SLUG             # or `publisher run`, the daemon (deploy/ has its units)"""


def _asked() -> SiteAnswers:
    default = SiteAnswers()
    return SiteAnswers(
        title=click.prompt("Newsletter title", default=default.title),
        base_url=click.prompt("Public address (base URL)", default=default.base_url),
        language=click.prompt("Language (BCP 47: en, zh-CN, ...)", default=default.language),
        from_address=click.prompt("Sender address", default=default.from_address),
        timezone=click.prompt("Time zone (IANA)", default=default.timezone),
    )


@click.command("init")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path), default=".")
@click.option("--yes", is_flag=True, help="Ask nothing: take the defaults (edit them later).")
@click.pass_obj
def init_command(context: Context, folder: Path, yes: bool) -> None:
    """Start a site in FOLDER: publisher.toml (every setting, explained), an example issue,
    a welcome step (off), .gitignore and deploy/ (systemd units, an nginx site).

    Never overwrites a file. The whole flow:

    \b
      pipx install publisher          (or pip install the wheel into a venv)
      publisher init mysite && cd mysite
      publisher check && publisher demo
      publisher new "My first issue"
      publisher preview issues/FILE.md --screenshot
      publisher build
      export PUBLISHER_SECRET_KEY=$(publisher secret-key)
      publisher serve                  (subscribe, confirm, /admin)
      publisher send SLUG              (or publisher run, the daemon)"""
    answers = SiteAnswers() if yes else _asked()
    files = starter_files(answers, folder,
                          context.clock().astimezone(ZoneInfo(answers.timezone)))
    for path in write_site(folder, files):
        click.echo(f"wrote {path}")
    click.echo(NEXT_STEPS.format(folder=folder))


COMMANDS: list[click.Command] = [init_command]
