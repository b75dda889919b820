"""`publisher webhooks status` and `publisher webhooks replay`: what the webhook outbox
holds per endpoint, and events delivered again (with their ids) after a receiver lost them.

Delivery itself is `publisher run`'s (publisher.sending.webhooks); these verbs only read
the rows or add replay rows, so they work while the daemon runs.
"""

from __future__ import annotations

import json

import click

from publisher.commands.context import Context
from publisher.sending import webhooks


@click.group("webhooks")
def webhooks_group() -> None:
    """Signed webhooks: what each endpoint got, and replays."""


def status_lines(found: list[webhooks.EndpointStatus]) -> list[str]:
    """One line per endpoint, then its last failure's reply when one failed."""
    if not found:
        return ["no webhooks: add a [[webhooks]] table to publisher.toml"]
    lines = []
    for endpoint in found:
        lines.append(f"{endpoint.url}: {endpoint.delivered} delivered, {endpoint.pending} "
                     f"pending, {endpoint.failed} failed; oldest undelivered "
                     f"{endpoint.oldest_undelivered_seconds:.0f} s")
        if endpoint.last_failure:
            lines.append(f"  last failure: {endpoint.last_failure}")
    return lines


@webhooks_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON document instead.")
@click.pass_obj
def status_command(context: Context, as_json: bool) -> None:
    """Per endpoint: delivered, pending, failed, oldest undelivered age, last failure."""
    urls = [w.url for w in context.config.settings.webhooks]
    found = webhooks.status(context.engine, urls, context.clock())
    if as_json:
        click.echo(json.dumps({"endpoints": [e.as_json() for e in found]}, indent=2))
        return
    click.echo("\n".join(status_lines(found)))


@webhooks_group.command("replay")
@click.option("--since", required=True,
              help="Events from this moment: an ISO time (2026-05-01T09:00Z) or an age (2h, "
                   "30m, 7d).")
@click.option("--url", default=None, help="Only this endpoint (one of publisher.toml's).")
@click.pass_obj
def replay_command(context: Context, since: str, url: str | None) -> None:
    """Deliver again every event since a moment, with the same event ids."""
    now = context.clock()
    configured = context.config.settings.webhooks
    if url is not None and url not in {w.url for w in configured}:
        raise click.ClickException(f"{url}: not a webhook of publisher.toml")
    try:
        moment = webhooks.since_moment(since, now)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--since") from exc
    count = webhooks.replay(context.engine, moment, now, url, configured)
    click.echo(f"{count} deliveries queued again since {moment.isoformat()}; "
               f"`publisher run` delivers them")


COMMANDS: list[click.Command] = [webhooks_group]
