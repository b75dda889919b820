"""The `publisher` command: one thin function per verb, each in publisher/commands/."""

from __future__ import annotations

from pathlib import Path

import click

from publisher.commands import bounces, dkim, issues_cmds, sending, serve, subscribers
from publisher.config import load_config


@click.group()
@click.option(
    "--config", "config_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Path to publisher.toml (default: ./publisher.toml).",
)
@click.version_option(package_name="publisher")
@click.pass_context
def main(ctx: click.Context, config_file: Path | None) -> None:
    """Markdown digest -> HTML email, feeds, web archive, and a durable sender."""
    ctx.obj = load_config(Path.cwd(), config_file)


for module in (issues_cmds, serve, subscribers, sending, dkim, bounces):
    for command in module.COMMANDS:
        main.add_command(command)


if __name__ == "__main__":
    main()
