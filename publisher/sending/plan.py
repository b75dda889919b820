"""What a send from the command line will do before it does it, and what it left after.

Before: whether an issue's send starts or resumes, how many deliveries and which audience
(a started send keeps the audience recorded at its start), how many rows a step's send has
left; a paused or cancelled send is refused (publisher.sending.control.refuse_if_halted).
After a foreground drain: the line of a send halted meanwhile, the rows waiting for their
local send time and the rest still open. Each function returns data; the command says it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.engine import Engine

from publisher.config import Config
from publisher.content.automations import SEND_PREFIX
from publisher.errors import SendError
from publisher.sending import control, enrolment, outbox, recipients, reports, windows
from publisher.sending.send_issue import Ready, ready, resolve_issue_path
from publisher.subscribers import audience_sql


@dataclass(frozen=True)
class IssuePlan:
    """Who an issue's send goes to, as the confirmation and the dry run say it."""

    send_id: int | None  # the started send this one resumes; None: a new send
    size: int  # rows of the started send, or subscribers the audience matches now
    confirmed: int
    expression: str | None  # canonical audience expression; None: every confirmed subscriber


def plan_issue_send(engine: Engine, config: Config, item: Ready, override: str | None,
                    now: datetime) -> IssuePlan:
    """The send's audience: a started send keeps the one recorded at its start (a
    different --audience is refused, as is a paused or cancelled send); a new one resolves
    it now, refusing a bad one."""
    slug = item.issue.slug
    send_id = outbox.find_send(engine, slug)
    if send_id is not None:
        control.refuse_if_halted(engine, slug, send_id)
    confirmed = outbox.audience_size(engine)
    if send_id is not None:
        recorded = reports.send_summary(engine, send_id, now).audience
        if override is not None and str(recipients.parsed(override, config)) != recorded:
            raise SendError(
                f"{slug}: this send started with audience "
                f"{f'`{recorded}`' if recorded else 'every confirmed subscriber'}; "
                f"--audience {override!r} cannot change it")
        return IssuePlan(send_id, sum(outbox.counts(engine, send_id).values()), confirmed,
                         recorded)
    text = recipients.expression_of(item.issue, override)
    if text is None:
        return IssuePlan(None, confirmed, confirmed, None)
    expr = recipients.parsed(text, config)
    return IssuePlan(None, audience_sql.count(engine, expr, config.site.language), confirmed,
                     str(expr))


@dataclass(frozen=True)
class StepPlan:
    """An automation step's send: the rows enrolment queued and not yet sent."""

    send_id: int
    left: int


def plan_step_send(engine: Engine, config: Config, slug: str) -> StepPlan:
    """A step's send delivers the rows enrolled in it (the daemon enrols them); a paused
    or cancelled one is refused."""
    send_id = enrolment.require_step_send(engine, config, slug)
    control.refuse_if_halted(engine, slug, send_id)
    return StepPlan(send_id, outbox.remaining(outbox.counts(engine, send_id)))


@dataclass(frozen=True)
class Requeued:
    """The failed deliveries of a send queued again."""

    slug: str
    send_id: int
    count: int


def requeue_failed(engine: Engine, config: Config, issue: str, now: datetime) -> Requeued:
    """Queue the failed rows of ISSUE (a slug, a path or `automation:<step>`) again; a
    paused or cancelled send is refused, before and after (cancelled meanwhile)."""
    if issue.startswith(SEND_PREFIX):
        slug, send_id = issue, enrolment.require_step_send(engine, config, issue)
    else:
        slug = ready(config, resolve_issue_path(config, issue)).issue.slug
        send_id = outbox.require_send(engine, slug)
    control.refuse_if_halted(engine, slug, send_id)
    count = control.retry_failed(engine, send_id, now)
    control.refuse_if_halted(engine, slug, send_id)  # cancelled meanwhile: nothing queued
    return Requeued(slug, send_id, count)


@dataclass(frozen=True)
class Leftover:
    """What a foreground drain left undone."""

    halted: str | None  # the state line of a send paused or cancelled meanwhile
    waiting: windows.Waiting  # queued rows waiting for their local send time
    left: dict[str, int]  # the other open rows, per state (none at zero)


def leftover(engine: Engine, send_id: int, slug: str, counts: dict[str, int],
             now: datetime) -> Leftover:
    """What is left of a send after a drain that ended with `counts`."""
    state = control.send_state(engine, send_id)
    if state in (outbox.SEND_PAUSED, outbox.SEND_CANCELLED):
        return Leftover(control.state_line(slug, state, counts), windows.Waiting(0, None), {})
    left = {state: counts[state] for state in outbox.OPEN_STATES if counts[state]}
    waiting = windows.waiting(engine, send_id, now)
    if waiting.rows and waiting.first is not None:  # send_local: `publisher run` sends them
        left[outbox.QUEUED] -= waiting.rows
        left = {state: n for state, n in left.items() if n}
    return Leftover(None, waiting, left)
