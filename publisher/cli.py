"""The `publisher` command: one thin function per verb, each in publisher/commands/, all
sharing one Context (publisher.commands.context) made here for the invocation.

A database failure that reaches the top is one line (no SQL, no addresses) with a distinct
exit code; `--debug` (or PUBLISHER_DEBUG=1) shows the traceback instead.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa

from publisher.commands.context import Context
from publisher.config import load_config
from publisher.errors import DatabaseFault
from publisher.outage import as_error

# Which module of publisher/commands holds each verb (each module exports COMMANDS). A verb's
# module is imported only when that verb runs (or `--help` lists them all), so a command
# starts without loading the web app, the console's password hasher or the mail renderer
# it does not use. tests/test_cli_modules.py checks this table against every COMMANDS.
COMMAND_MODULES: dict[str, str] = {
    "init": "init", "new": "issues", "check": "issues", "build": "issues", "preview": "issues",
    "serve": "serve", "secret-key": "secret", "subscribers": "subscribers", "db": "db",
    "import": "imports", "send": "send", "retry": "send", "status": "status",
    "report": "status", "demo": "demo", "run": "daemon", "pause": "control",
    "resume": "control", "cancel": "control", "dkim": "dkim", "bounces": "bounces",
    "admin": "admin", "automations": "automations", "webhooks": "webhooks", "dev": "dev",
    "analytics": "analytics",
}


class _Group(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMAND_MODULES)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        module = COMMAND_MODULES.get(cmd_name)
        if module is None:
            return None
        commands = importlib.import_module(f"publisher.commands.{module}").COMMANDS
        return next((command for command in commands if command.name == cmd_name), None)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (sa.exc.DBAPIError, sa.exc.TimeoutError) as exc:
            if ctx.meta.get("debug"):
                raise
            raise as_error(exc) from None
        except DatabaseFault as exc:  # given up after retries: the cause has the traceback
            if ctx.meta.get("debug"):
                traceback.print_exception(exc, file=sys.stderr)
            raise


@click.group(cls=_Group)
@click.option(
    "--config", "config_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Path to publisher.toml (default: ./publisher.toml).",
)
@click.option("--debug", is_flag=True, envvar="PUBLISHER_DEBUG",
              help="Show tracebacks instead of one-line errors.")
@click.version_option(package_name="publisher")
@click.pass_context
def main(ctx: click.Context, config_file: Path | None, debug: bool) -> None:
    """Markdown digest -> HTML email, feeds, web archive, and a durable sender."""
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger("publisher").setLevel(logging.INFO)  # JSON event lines on stderr
    ctx.meta["debug"] = debug
    context = Context(load_config(Path.cwd(), config_file), environ=os.environ)
    ctx.call_on_close(context.close)
    ctx.obj = context


if __name__ == "__main__":
    main()
