"""`publisher serve`: the ASGI app (archive, feeds, subscriber flows) under uvicorn."""

from __future__ import annotations

import os

import click
import uvicorn

from publisher.config import Config, load_secrets
from publisher.web.app import create_app
from publisher.web.state import WebState


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.pass_obj
def serve_command(config: Config, host: str, port: int) -> None:
    """Serve the built output directory and the subscriber routes."""
    secrets = load_secrets(os.environ)
    secrets.require_signing_key()  # one line now rather than 500s later
    app = create_app(WebState(config, secrets))
    uvicorn.run(app, host=host, port=port, proxy_headers=True, log_level="info")


COMMANDS: list[click.Command] = [serve_command]
