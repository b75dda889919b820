"""Automation steps into the outbox: each (step, subscriber) one delivery row, ever.

Each step file (publisher.content.automations) has a send of its own (kind "automation",
slug `automation:<name>`), with its email frozen like an issue's; when the file changes,
the frozen email is replaced, so later deliveries use it and sent ones are never repeated.
Enrolment is one INSERT … SELECT per step of the confirmed subscribers whose delay has
passed, guarded by the outbox's unique (send, subscriber): a daemon restarted after days
catches up, two daemons enrol each person once. A step reaches a subscriber only inside its
window (their due time is at most `[sending] catch_up_hours` before the step's send began,
so a step added later skips the back catalogue) and only when no earlier step of theirs is
still unsettled (steps go out in order). The welcome's `send_latest_issue` adds a new
subscriber, once their welcome is sent, to the send of the latest issue that was mailed.
Whoever left, bounced or complained is never enrolled; rows already enrolled are
suppressed by the drain. This module is one of the outbox's writers (send and delivery rows).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from publisher.config import Config
from publisher.content.automations import Step, read_steps
from publisher.content.issues import Issue, read_issues
from publisher.db import deliveries, sends, subscriber_table
from publisher.errors import IssueFileError, Problem
from publisher.mail.checks import check_step
from publisher.mail.render import RenderedEmail
from publisher.sending import outbox
from publisher.sending.audiences import audience_of
from publisher.subscribers import store

KIND = "automation"


@dataclass(frozen=True)
class StepSend:
    """A step and its send: the send's id, when it began (its window's anchor), its state."""

    step: Step
    send_id: int
    created_at: datetime
    status: str


def read_live_steps(config: Config) -> list[Step]:
    """The non-draft steps in sending order; IssueFileError when any file is broken (then
    nothing is enrolled: a broken step must not let later steps overtake it)."""
    if not config.automations_dir.is_dir():
        return []
    steps, problems, _failed = read_steps([config.automations_dir])
    if problems:
        raise IssueFileError(problems)
    return [step for step in steps if not step.meta.draft]


def run_automations(engine: Engine, config: Config, now: datetime) -> dict[str, int]:
    """One round: sync step files to their sends, enrol who is due; rows added per send."""
    steps = read_live_steps(config)
    if not steps:
        return {}
    step_sends = sync_steps(engine, config, steps, now)
    catch_up = timedelta(hours=config.settings.sending.catch_up_hours)
    added = {s.step.send_slug: enrol(engine, s, step_sends[:i], now, catch_up)
             for i, s in enumerate(step_sends)}
    for welcome in (s for s in step_sends if s.step.meta.send_latest_issue):
        slug, count = enrol_latest_issue(engine, config, welcome, now)
        if slug is not None:
            added[slug] = added.get(slug, 0) + count
    return added


def existing_sends(engine: Engine) -> dict[str, Any]:
    """The automation sends there are, by slug (rows with id, created_at, status, content)."""
    columns = (sends.c.id, sends.c.issue_slug, sends.c.created_at, sends.c.status,
               sends.c.content)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(*columns).where(sends.c.kind == KIND)).all()
    return {str(row.issue_slug): row for row in rows}


def _render(step: Step, config: Config, date: datetime) -> RenderedEmail:
    rendered, problems = check_step(step, config, date)
    if problems or rendered is None:
        raise IssueFileError(problems or [Problem(step.path, None, None, "cannot render")])
    return rendered


def sync_steps(engine: Engine, config: Config, steps: list[Step],
               now: datetime) -> list[StepSend]:
    """Give each step a send (begun now) or bring its frozen email up to date."""
    found = existing_sends(engine)
    emails = {step.send_slug: _render(step, config, found[step.send_slug].created_at
                                      if step.send_slug in found else now)
              for step in steps}  # every file renders before anything is written
    synced = []
    for step in steps:
        rendered, row = emails[step.send_slug], found.get(step.send_slug)
        if row is None:
            row = _create(engine, config, rendered, now)
        elif dict(row.content or {}) != outbox.stored_form(rendered):
            with engine.begin() as conn:
                conn.execute(sends.update().where(sends.c.id == row.id).values(
                    content=outbox.stored_form(rendered), subject=rendered.subject[:998]))
        synced.append(StepSend(step, int(row.id), row.created_at, str(row.status)))
    return synced


def _create(engine: Engine, config: Config, rendered: RenderedEmail, now: datetime) -> Any:
    entry_id = f"tag:{config.site.domain},{now.date().isoformat()}:{rendered.slug}"
    try:
        with engine.begin() as conn:
            conn.execute(sends.insert().values(
                issue_slug=rendered.slug, entry_id=entry_id, subject=rendered.subject[:998],
                status=outbox.SEND_ACTIVE, audience_count=0, created_at=now,
                content=outbox.stored_form(rendered), kind=KIND))
    except sa.exc.IntegrityError:  # another daemon created it a moment ago: use that one
        pass
    return existing_sends(engine)[rendered.slug]


def _insert_rows(conn: Connection, send_id: int, who: list[Any], now: datetime) -> int:
    """INSERT … SELECT … ON CONFLICT DO NOTHING of the subscribers meeting `who`."""
    s = subscriber_table.c
    rows = sa.select(sa.literal(send_id), s.id, s.email, s.name, sa.literal(outbox.QUEUED),
                     sa.literal(0), sa.literal(now, type_=deliveries.c.updated_at.type)
                     ).where(*who)
    dialect: Any = sqlite if conn.dialect.name == "sqlite" else postgresql
    statement = dialect.insert(deliveries).from_select(
        ["send_id", "subscriber_id", "email", "name", "status", "attempts", "updated_at"],
        rows).on_conflict_do_nothing(index_elements=["send_id", "subscriber_id"])
    added = int(conn.execute(statement).rowcount or 0)
    if added:
        count = sa.select(sa.func.count()).where(deliveries.c.send_id == send_id)
        conn.execute(sends.update().where(sends.c.id == send_id)
                     .values(audience_count=count.scalar_subquery()))
    reopen(conn, send_id)
    return added


def reopen(conn: Connection, send_id: int) -> None:
    """A done send that has rows to deliver is sending again (paused and cancelled stay)."""
    waiting = sa.exists().where(deliveries.c.send_id == send_id,
                                deliveries.c.status.in_(outbox.OPEN_STATES))
    conn.execute(sends.update().where(sends.c.id == send_id,
                                      sends.c.status == outbox.SEND_DONE, waiting)
                 .values(status=outbox.SEND_ACTIVE, finished_at=None))


def _not_enrolled(send_id: int) -> Any:
    return ~sa.exists().where(deliveries.c.send_id == send_id,
                              deliveries.c.subscriber_id == subscriber_table.c.id)


def window(step_send: StepSend | None, step: Step, now: datetime,
           catch_up: timedelta) -> Any:
    """Confirmed subscribers whose due time falls inside the step's window (not yet due
    ones included); a step with no send yet is anchored at `now`."""
    begun = step_send.created_at if step_send is not None else now
    s = subscriber_table.c
    return sa.and_(s.status == store.CONFIRMED, s.confirmed_at.is_not(None),
                   s.confirmed_at >= begun - catch_up - step.delay)


def enrol(engine: Engine, step_send: StepSend, earlier: list[StepSend], now: datetime,
          catch_up: timedelta) -> int:
    """Add the subscribers due for this step (and not waiting on an earlier one)."""
    if step_send.status == outbox.SEND_CANCELLED:
        return 0
    s = subscriber_table.c
    waiting_on_earlier = sa.exists().where(
        deliveries.c.subscriber_id == s.id, deliveries.c.status.in_(outbox.OPEN_STATES),
        deliveries.c.send_id.in_([e.send_id for e in earlier]))
    who = [window(step_send, step_send.step, now, catch_up),
           s.confirmed_at <= now - step_send.step.delay,
           _not_enrolled(step_send.send_id), ~waiting_on_earlier]
    with engine.begin() as conn:
        return _insert_rows(conn, step_send.send_id, who, now)


def latest_mailed_issue(engine: Engine, config: Config,
                        now: datetime) -> tuple[Issue, Any] | None:
    """The latest published issue that was sent by email, with its send row (None: none)."""
    issues, _problems, _failed = read_issues([config.issues_dir])
    published = {issue.slug: issue for issue in issues if issue.is_published(now)}
    with engine.connect() as conn:
        rows = conn.execute(sa.select(sends.c.id, sends.c.issue_slug, sends.c.status,
                                      sends.c.created_at, sends.c.audience).where(
            sends.c.issue_slug.in_(list(published)), sa.or_(sends.c.kind.is_(None),
                                                            sends.c.kind == "issue"))).all()
    mailed = sorted(((published[str(row.issue_slug)], row) for row in rows),
                    key=lambda pair: (pair[0].published, pair[0].slug))
    return mailed[-1] if mailed else None


def enrol_latest_issue(engine: Engine, config: Config, welcome: StepSend,
                       now: datetime) -> tuple[str | None, int]:
    """Add subscribers whose welcome was sent and who confirmed after the latest mailed
    issue's send began (so were not in it) to that send; its audience still applies."""
    found = latest_mailed_issue(engine, config, now)
    if found is None or found[1].status in (outbox.SEND_CANCELLED, outbox.SEND_PAUSED):
        return None, 0
    issue, row = found
    s = subscriber_table.c
    welcomed = sa.exists().where(deliveries.c.send_id == welcome.send_id,
                                 deliveries.c.subscriber_id == s.id,
                                 deliveries.c.status == outbox.SENT)
    audience = audience_of(issue, config, row.audience) if row.audience else None
    who = [s.status == store.CONFIRMED, s.confirmed_at > row.created_at, welcomed,
           _not_enrolled(int(row.id)), audience.condition if audience else sa.true()]
    with engine.begin() as conn:
        return str(row.issue_slug), _insert_rows(conn, int(row.id), who, now)


@dataclass(frozen=True)
class StepStatus:
    """Where one step stands: rows by outcome, and subscribers due now or later."""

    step: Step | None  # None: the file was removed; its send remains
    slug: str
    state: str  # the send's state, or "new" before its first daemon round
    sent: int
    failed: int
    due: int  # in the outbox, or due and enrolled at the next round
    pending: int  # inside the window, their delay not yet passed


def step_statuses(engine: Engine, config: Config, now: datetime) -> list[StepStatus]:
    """Each step file's status, then sends of step files since removed (read only)."""
    found = existing_sends(engine)
    catch_up = timedelta(hours=config.settings.sending.catch_up_hours)
    steps = read_live_steps(config)
    result = [_status(engine, step, found.get(step.send_slug), now, catch_up) for step in steps]
    live = {step.send_slug for step in steps}
    result += [_status(engine, None, row, now, catch_up) for slug, row in sorted(found.items())
               if slug not in live]
    return result


def _status(engine: Engine, step: Step | None, row: Any, now: datetime,
            catch_up: timedelta) -> StepStatus:
    tally = outbox.counts(engine, int(row.id)) if row is not None else {}
    due = sum(tally.get(state, 0) for state in outbox.OPEN_STATES)
    pending = 0
    if step is not None:
        step_send = StepSend(step, int(row.id), row.created_at, row.status) if row else None
        base = [window(step_send, step, now, catch_up)]
        if step_send is not None:
            base.append(_not_enrolled(step_send.send_id))
        s = subscriber_table.c
        with engine.connect() as conn:
            count = sa.select(sa.func.count()).select_from(subscriber_table)
            due += int(conn.execute(count.where(*base, s.confirmed_at <= now - step.delay))
                       .scalar_one())
            pending = int(conn.execute(count.where(*base, s.confirmed_at > now - step.delay))
                          .scalar_one())
    slug = step.send_slug if step is not None else str(row.issue_slug)
    return StepStatus(step, slug, str(row.status) if row is not None else "new",
                      tally.get(outbox.SENT, 0), tally.get(outbox.FAILED, 0), due, pending)

