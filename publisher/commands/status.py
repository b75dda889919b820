"""Verbs that show the outbox: `publisher status` and `publisher report`, as tables and
text built from publisher.sending.reports (and a report's archive views from
publisher.analytics), and the live refresh of `status --watch`."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from functools import partial

import click
from rich.console import Console, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text
from sqlalchemy.engine import Engine

from publisher.analytics import figures
from publisher.commands.context import Context
from publisher.sending import outbox, reports
from publisher.sending.send_issue import missed_issues


def _when(value: datetime | None) -> str:
    return value.isoformat(timespec="seconds") if value else "-"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}"


def _rate(value: float | None) -> str:
    return f"{value:.1f}/s" if value else "-"


def status_table(engine: Engine, issue: str | None, now: datetime) -> Table:
    """One row per send (or only ISSUE's, with a row per language when it went out in
    several), oldest first: state, counts per row state, rate over the last minute and ETA."""
    table = Table("issue", "state", *outbox.STATES, "rate", "ETA", "started", "finished")
    for summary in reversed(reports.send_summaries(engine, now)):
        if issue and summary.slug != issue:
            continue
        state = summary.state + (" (pruned)" if summary.pruned else "")
        table.add_row(summary.slug, state, *(str(summary.counts[s]) for s in outbox.STATES),
                      _rate(summary.rate_per_second), _duration(summary.eta_seconds),
                      _when(summary.created_at), _when(summary.finished_at))
        for language, counts in _languages(summary).items() if issue else ():
            table.add_row(f"  {language}", "", *(str(counts[s]) for s in outbox.STATES))
    return table


def _languages(summary: reports.SendSummary) -> dict[str, dict[str, int]]:
    """A send's counts by language, when it went out in more than one ("" is shown as
    "-": rows from before languages were recorded)."""
    if len(summary.by_language) < 2:
        return {}
    return {language or "-": counts for language, counts in summary.by_language.items()}


def _output_console() -> Console:
    out = Console()
    if not out.is_terminal:  # piped or logged: never truncate a slug to fit 80 columns
        out.width = 200
    return out


def _watch(out: Console, render: Callable[[], RenderableType], busy: Callable[[], bool],
          interval: float) -> None:
    """Show `render()` every `interval` seconds while `busy()`: in place on a terminal,
    one snapshot after another when piped or logged; the last one shows the end."""
    if not out.is_terminal:
        while True:
            more = busy()
            out.print(render())
            out.file.flush()  # a pipe is block-buffered: each snapshot shows as it is taken
            if not more:
                return
            time.sleep(interval)
    with Live(render(), console=out, auto_refresh=False) as live:
        while busy():
            time.sleep(interval)
            live.update(render(), refresh=True)


def report_lines(summary: reports.SendSummary, data: dict[str, object],
                 failures: Sequence[tuple[str, str, int]]) -> list[Text]:
    """`publisher report`'s lines: the figures, the counts by language when there are
    several, the audience, the warnings and the failures by reply."""
    pruned = " (pruned: counts from the summary kept)" if summary.pruned else ""
    duration = data["duration_seconds"]
    plain = [
        f"state {summary.state}{pruned}; {summary.total} deliveries: "
        + ", ".join(f"{n} {s}" for s, n in summary.counts.items()),
        f"started {_when(summary.created_at)}, finished {_when(summary.finished_at)}; "
        f"first sent {_when(summary.first_sent_at)}, last {_when(summary.last_sent_at)} "
        f"({_duration(duration if isinstance(duration, float) else None)}), "
        f"{_rate(summary.average_rate)} on average",
        f"bounces    {summary.bounces} ({summary.bounce_rate:.2%} of sent; "
        f"providers' limit {reports.BOUNCE_RATE_LIMIT:.0%})",
        f"complaints {summary.complaints} ({summary.complaint_rate:.2%} of sent; "
        f"providers' limit {reports.COMPLAINT_RATE_LIMIT:.1%})",
    ]
    if summary.state == outbox.SEND_ACTIVE:
        plain.append(f"now {_rate(summary.rate_per_second)}, "
                     f"{summary.remaining} left, ETA {_duration(summary.eta_seconds)}")
    by_language = _languages(summary)
    if by_language:
        plain.append("by language:")
        plain += [f"  {language:<8} " + ", ".join(f"{n} {s}" for s, n in counts.items())
                  for language, counts in by_language.items()]
    audience = (f"audience `{summary.audience}`" if summary.audience
                else "audience: every confirmed subscriber")
    lines = [Text.assemble((summary.slug, "bold"), f"  {summary.subject}"),
             Text(audience), *(Text(line) for line in plain)]
    lines += [Text(f"WARNING: {w}", style="bold red") for w in reports.limit_warnings(summary)]
    if failures:
        lines.append(Text("failures by reply (largest first):"))
        lines += [Text(f"  {n:>7} {state:<8} {group}") for state, group, n in failures]
    return lines


@click.command("report")
@click.argument("issue")
@click.option("--json", "as_json", is_flag=True, help="One JSON object, for scripts.")
@click.pass_obj
def report_command(context: Context, issue: str, as_json: bool) -> None:
    """One send's counts, duration, rate, bounce and complaint rates, failures by reply,
    its links' clicks and prefetches when it counted them, and its issue page's archive
    views once any are counted."""
    engine = context.engine
    send_id = outbox.require_send(engine, issue)
    summary = reports.send_summary(engine, send_id, context.clock())
    failures = reports.failures_by_reply(engine, send_id)
    clicks = figures.clicks_of_send(engine, send_id)
    data = reports.report_data(summary, failures, clicks)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    out = _output_console()
    for line in report_lines(summary, data, failures):
        out.print(line, soft_wrap=True)
    for text in figures.click_lines(clicks):
        out.print(text, soft_wrap=True, markup=False, highlight=False)
    views = figures.views_of_issue(engine, summary.slug)
    if views:
        out.print(f"archive views {views} (its page in every language; per day: "
                  "publisher analytics views)", soft_wrap=True)


@click.command("status")
@click.argument("issue", required=False)
@click.option("--watch", is_flag=True,
              help="Refresh every second until no send has rows left to send now (Ctrl-C stops).")
@click.pass_obj
def status_command(context: Context, issue: str | None, watch: bool) -> None:
    """Every send (or one): state, counts per row state, rate and ETA; its last errors."""
    engine, clock = context.engine, context.clock
    out = _output_console()
    render = partial(_status_now, context, issue)
    if watch:
        try:
            _watch(out, render, lambda: reports.sends_in_progress(engine, clock()), interval=1.0)
        except KeyboardInterrupt:
            return
    else:
        out.print(render())
    for item in missed_issues(engine, context.config, clock()):
        click.echo(f"missed   {item.slug}: send_at {_when(item.meta.send_at)} is "
                   f"older than catch_up_hours; `publisher send {item.slug}` sends it")
    if issue:
        for email, state, reply in outbox.last_errors(engine, outbox.require_send(engine, issue)):
            click.echo(f"{state:<8} {email}: {reply}")


def _status_now(context: Context, issue: str | None) -> Table:
    return status_table(context.engine, issue, context.clock())


COMMANDS: list[click.Command] = [status_command, report_command]
