"""Sending an issue, end to end: validate, snapshot the audience, freeze the email, drain.

Shared by `publisher send`, `publisher retry`, the `publisher run` daemon and the demo;
also the test copy of `send --to` (outside the outbox) and the issues `status` says were
missed.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path

from sqlalchemy.engine import Engine

from publisher import urls
from publisher.analytics import figures, links
from publisher.config import Config, Secrets
from publisher.content.issues import (
    Issue,
    original_path,
    read_issues,
    translation_language,
    translations_beside,
)
from publisher.errors import SendError
from publisher.mail.checks import check_issues
from publisher.mail.render import render_email
from publisher.mail.rendered import RenderedEmail
from publisher.mail.smtp import Reply, send_one
from publisher.outage import retry_async
from publisher.sending import outbox
from publisher.sending.drain import DrainOptions, drain, make_job
from publisher.sending.recipients import audience_of
from publisher.sending.windows import window_of
from publisher.subscribers.languages import strings_editions
from publisher.tokens import TokenSigner, link_token


@dataclass(frozen=True)
class Ready:
    """A validated issue with its rendered email, ready to start or resume."""

    issue: Issue
    rendered: RenderedEmail


def resolve_issue_path(config: Config, name: str) -> Path:
    """ISSUE may be a path or a slug (issues/<slug>.md)."""
    path = Path(name)
    candidate = path if path.suffix == ".md" and path.exists() else config.issues_dir / f"{name}.md"
    if candidate.exists() and translation_language(candidate):
        raise SendError(f"{candidate} is a translation of {original_path(candidate).name}: "
                        "send the original, which is the issue")
    if candidate.exists():
        return candidate
    raise SendError(f"{name}: no such issue file (looked for {candidate})")


def ready(config: Config, path: Path) -> Ready:
    """Check the issue and its translations fully; a broken file stops here, before any
    row is written. The email carries its translations' emails, each reader's edition, and
    for each of the site's languages with no translation the original with that language's
    fixed strings (keyed by it; its `language` stays the original's)."""
    (issue, rendered), *translated = check_issues([path, *translations_beside(path)], config,
                                                  translations=True)
    if issue.meta.draft:
        raise SendError(f"{path}: draft: true (remove it to send this issue)")
    editions = {translation.language: email for translation, email in translated}
    for language in strings_editions(config.site.languages, issue.language, list(editions)):
        editions[language] = render_email(issue, config, reader_language=language)
    return Ready(issue, replace(rendered, translations=editions))


def due_and_missed(issues: Iterable[Issue], started: set[str], now: datetime,
                   window: timedelta) -> tuple[list[Issue], list[Issue]]:
    """Non-draft issues with no send whose `send_at` has passed: those within the catch-up
    window are due; older ones were missed and wait for an explicit `publisher send`."""
    due: list[Issue] = []
    missed: list[Issue] = []
    for issue in issues:
        send_at = issue.meta.send_at
        if send_at is None or send_at > now or issue.meta.draft or issue.slug in started:
            continue
        (due if now - send_at <= window else missed).append(issue)
    return due, missed


def missed_issues(engine: Engine, config: Config, now: datetime) -> list[Issue]:
    """Issues whose `send_at` is older than catch_up_hours and that were never sent."""
    issues, _problems, _failed = read_issues([config.issues_dir])
    window = timedelta(hours=config.settings.sending.catch_up_hours)
    return due_and_missed(issues, outbox.send_slugs(engine), now, window)[1]


def send_test_copy(config: Config, secrets: Secrets, item: Ready, address: str,
                   now: datetime) -> Reply:
    """One copy outside the outbox: nothing is recorded, no subscriber is touched."""
    job = make_job(0, item.issue.entry_id(config.site.domain), item.rendered, config, secrets,
                   now)
    message = job.builder.build((0, 0, address, ""))
    return asyncio.run(send_one(config.settings.smtp, secrets, job.envelope_from_address,
                                address, message))


def start(engine: Engine, config: Config, item: Ready, now: datetime,
          audience: str | None = None) -> int:
    return start_or_join(engine, config, item, now, audience)[0]


def start_or_join(engine: Engine, config: Config, item: Ready, now: datetime,
                  audience: str | None = None) -> tuple[int, bool]:
    """The send's id, and whether this call started it (False: it joined one). Its
    audience is the issue's (or `audience`, the operator's override), its window the
    issue's `send_local`."""
    counted = (links.links_of(item.rendered, config.site.base_url)
               if config.settings.analytics.clicks else None)
    return outbox.start_or_join(engine, item.issue.entry_id(config.site.domain), item.rendered,
                                now, audience_of(item.issue, config, audience),
                                window_of(item.issue, config), counted)


def frozen_email(engine: Engine, config: Config, secrets: Secrets, send_id: int
                 ) -> tuple[RenderedEmail, str, datetime]:
    """The send's frozen email, its entry id and start; when the send counts clicks, its
    links point at the click counter (one token per link, the same for every reader and
    every retry)."""
    rendered, entry_id, started = outbox.frozen_content(engine, send_id)
    numbered = figures.send_links(engine, send_id)
    if numbered:
        signer, base_url = TokenSigner(secrets.secret_keys), config.site.base_url
        rendered = links.counted_email(
            rendered, numbered,
            lambda number: urls.click_url(base_url, link_token(signer, send_id, number)))
    return rendered, entry_id, started


def run_send(engine: Engine, config: Config, secrets: Secrets, send_id: int,
             now: Callable[[], datetime], options: DrainOptions,
             handle_signals: bool = False,
             stop_when: threading.Event | None = None) -> dict[str, int]:
    """Deliver the send with the email frozen at its start (same bytes on every retry).

    Needs only the database and the config, so workers on other machines can share it.
    A signal (with `handle_signals`) or `stop_when` finishes the in-flight batch and stops.
    """

    async def main() -> dict[str, int]:
        stop = options.stop = options.stop or asyncio.Event()
        if handle_signals:  # SIGTERM / Ctrl-C: finish the in-flight batch, then stop
            loop = asyncio.get_running_loop()
            for signum in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(signum, stop.set)
        watcher = asyncio.create_task(_watch(stop_when, stop)) if stop_when else None
        try:
            rendered, entry_id, started = await retry_async(
                partial(frozen_email, engine, config, secrets, send_id), options.policy, stop)
            job = make_job(send_id, entry_id, rendered, config, secrets, started)
            return await drain(engine, job, config, secrets, now, options)
        finally:
            if watcher is not None:
                watcher.cancel()

    return asyncio.run(main())


async def _watch(flag: threading.Event, stop: asyncio.Event) -> None:
    """Bridge a thread-side stop flag (the daemon's signal handler) into the event loop."""
    while not flag.is_set():
        await asyncio.sleep(0.2)
    stop.set()
