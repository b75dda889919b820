"""The `publisher` command: one thin function per verb, each in publisher/commands/.

A database failure that reaches the top is one line (no SQL, no addresses) with a distinct
exit code; `--debug` (or PUBLISHER_DEBUG=1) shows the traceback instead.
"""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa

from publisher.commands import (
    admin,
    automations,
    bounces,
    control,
    dev,
    dkim,
    imports,
    init,
    issues,
    secret,
    sending,
    serve,
    subscribers,
    webhooks,
)
from publisher.config import load_config
from publisher.errors import DatabaseFault
from publisher.outage import as_error


class _Group(click.Group):
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
    ctx.obj = load_config(Path.cwd(), config_file)


for module in (init, issues, serve, secret, subscribers, imports, sending, control, dkim,
               bounces, admin, automations, webhooks, dev):
    for command in module.COMMANDS:
        main.add_command(command)


if __name__ == "__main__":
    main()
