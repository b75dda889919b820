"""`publisher run`: the daemon (publisher.sending.daemon), with its /metrics endpoint."""

from __future__ import annotations

import click

from publisher.commands.context import Context
from publisher.config import metrics_address
from publisher.logs import log_event


@click.command("run")
@click.option("--worker", is_flag=True, help="Only drain active sends (scale-out workers).")
@click.option("--once", is_flag=True, help="Run one tick and exit (cron, tests).")
@click.option("--interval", default=60.0, show_default=True, help="Seconds between ticks.")
@click.option("--metrics-listen", metavar="HOST:PORT", default=None,
              help="Serve /metrics here instead of at [metrics] listen (one port per process).")
@click.pass_obj
def run_command(context: Context, worker: bool, once: bool, interval: float,
                metrics_listen: str | None) -> None:
    """The daemon: rebuild on change, start due sends, resume and retry deliveries."""
    from publisher.sending import metrics
    from publisher.sending.daemon import Daemon

    config = context.config
    secrets = context.require_signing_key()
    # The schema is brought up to date at the first tick that reaches the database, so a
    # daemon started while the database is down waits for it instead of exiting.
    engine = context.bare_engine
    daemon = Daemon(config, secrets, engine, context.clock, worker=worker)
    if once:
        daemon.tick()
        return
    listen = config.settings.metrics.listen if metrics_listen is None else metrics_listen
    server = None
    if listen:
        try:
            host, port = metrics_address(listen, config.settings.metrics.allow_remote)
            server = metrics.serve(host, port, engine, context.clock)
        except ValueError as exc:  # only --metrics-listen: the file's value was checked
            raise click.BadParameter(str(exc), param_hint="--metrics-listen") from exc
        except OSError as exc:
            raise click.ClickException(f"/metrics on {listen}: {exc.strerror}; every process "
                                       "needs its own port (--metrics-listen)") from exc
        log_event("metrics_listening", address=listen)
    try:
        daemon.run_forever(interval)
    finally:
        if server is not None:
            server.shutdown()


COMMANDS: list[click.Command] = [run_command]
