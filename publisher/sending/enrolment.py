"""Automation steps into the outbox: each (step, subscriber) one delivery row, ever.

Each step file (publisher.content.automations) has a send of its own (kind "automation",
slug `automation:<name>`), with its email frozen like an issue's; when the file changes,
the frozen email is replaced, so later deliveries use it and sent ones are never repeated.
Enrolment is one INSERT … SELECT per step of the confirmed subscribers who entered the
automations (`subscribers.automations_at`: their own confirmation, or an import with
--welcome) and whose delay has passed, guarded by the outbox's unique (send, subscriber):
a daemon restarted after days catches up, two daemons enrol each person once. A step is
on unless its file is a draft, removed, or switched off (`disable`); `automation_steps`
records when each step was last switched (back) on, and a step reaches a subscriber only
inside its window (their due time is at most `[sending] catch_up_hours` before that), so
a step added or switched back on later skips the back catalogue. Steps go out in order: a
step waits while an earlier step of theirs is unsettled. A reader who comes back (confirms
again) after a step's row failed or was cancelled gets that row queued again, once; one
who received it does not. Cancelling a step's send ends the rows it had; new readers are
still enrolled (the send is sending again once nothing of the old rows is in flight). The
welcome's `send_latest_issue` adds a new subscriber, once their welcome is sent, to the
send of the latest issue that was mailed. Whoever left, bounced or complained is never
enrolled; rows already enrolled are suppressed by the drain. This module is one of the
outbox's writers (send and delivery rows) and the only writer of `automation_steps`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from publisher.config import Config
from publisher.content.automations import SEND_PREFIX, Step, read_steps, step_slug
from publisher.content.issues import Issue, read_issues
from publisher.db import automation_steps, deliveries, sends, subscriber_table
from publisher.errors import IssueFileError, Problem, SendError
from publisher.mail.checks import check_step, step_in_reader_strings
from publisher.mail.rendered import RenderedEmail
from publisher.sending import outbox
from publisher.sending.frozen import stored_form
from publisher.sending.recipients import audience_of
from publisher.subscribers import store
from publisher.subscribers.languages import strings_editions

KIND = "automation"


OFF_DRAFT, OFF_DISABLED, OFF_REMOVED = "draft", "disabled", "file removed"


@dataclass(frozen=True)
class StepSend:
    """A step and its send: the send's id, when it began (the date its email is drawn
    with), its state, and when the step was last switched on (its window's anchor)."""

    step: Step
    send_id: int
    created_at: datetime
    status: str
    since: datetime


def read_all_steps(config: Config) -> list[Step]:
    """Every step file, drafts included, in sending order; IssueFileError when any file is
    broken (then nothing is enrolled: a broken step must not let later steps overtake it)."""
    if not config.automations_dir.is_dir():
        return []
    steps, problems, _failed = read_steps([config.automations_dir])
    if problems:
        raise IssueFileError(problems)
    return steps


def disabled_steps(engine: Engine) -> set[str]:
    """Slugs of the steps the operator switched off (`publisher automations disable`)."""
    with engine.connect() as conn:
        return {str(slug) for slug in conn.execute(sa.select(automation_steps.c.slug).where(
            automation_steps.c.disabled_at.is_not(None))).scalars()}


def off_reason(step: Step, disabled: set[str]) -> str | None:
    """Why a step file is switched off (draft, disabled), or None when it is on."""
    if step.meta.draft:
        return OFF_DRAFT
    return OFF_DISABLED if step.send_slug in disabled else None


def body_hash(step: Step) -> str:
    """What a step says, to recognise it under another file name."""
    return hashlib.sha256(step.body.strip().encode("utf-8")).hexdigest()


def run_automations(engine: Engine, config: Config, now: datetime) -> dict[str, int]:
    """One round: record which steps are on, sync their files to their sends, enrol who is
    due; rows added (or queued again) per send."""
    steps = read_all_steps(config)
    disabled = disabled_steps(engine)
    live = [step for step in steps if off_reason(step, disabled) is None]
    since = record_live(engine, live, now)
    if not live:
        return {}
    step_sends = sync_steps(engine, config, live, since, now)
    catch_up = timedelta(hours=config.settings.sending.catch_up_hours)
    added = {s.step.send_slug: enrol(engine, s, step_sends[:i], now, catch_up)
             for i, s in enumerate(step_sends)}
    for welcome in (s for s in step_sends if s.step.meta.send_latest_issue):
        slug, count = enrol_latest_issue(engine, config, welcome, now)
        if slug is not None:
            added[slug] = added.get(slug, 0) + count
    outbox.refresh_statistics(engine, sum(added.values()))
    return added


def existing_sends(engine: Engine) -> dict[str, Any]:
    """The automation sends there are, by slug (rows with id, created_at, status, content)."""
    columns = (sends.c.id, sends.c.issue_slug, sends.c.created_at, sends.c.status,
               sends.c.content)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(*columns).where(sends.c.kind == KIND)).all()
    return {str(row.issue_slug): row for row in rows}


def require_step_send(engine: Engine, config: Config, slug: str) -> int:
    """The id of a step's send (`automation:<name>`); SendError naming what to do when the
    step has none yet, or no such step exists."""
    row = existing_sends(engine).get(slug)
    if row is not None:
        return int(row.id)
    name = slug.removeprefix(SEND_PREFIX)
    if (config.automations_dir / f"{name}.md").is_file():
        raise SendError(f"{slug}: not started yet; the daemon's next round (`publisher run`, "
                        "or `publisher run --once`) starts it with the readers due")
    known = ", ".join(sorted(existing_sends(engine))) or "none"
    raise SendError(f"{slug}: no such step (no file {name}.md in {config.automations_dir}; "
                    f"steps with a send: {known})")


def _render(step: Step, config: Config, date: datetime) -> RenderedEmail:
    """A step's email with its translations' (each reader gets theirs, as with an issue),
    and the original in the fixed strings of each site language with no translation."""
    rendered = _rendered_alone(step, config, date)
    editions = {language: _rendered_alone(translation, config, date)
                for language, translation in step.translations.items()}
    for language in strings_editions(config.site.languages, rendered.language, list(editions)):
        editions[language] = step_in_reader_strings(step, config, date, language)
    return replace(rendered, translations=editions)


def _rendered_alone(step: Step, config: Config, date: datetime) -> RenderedEmail:
    rendered, problems = check_step(step, config, date)
    if problems or rendered is None:
        raise IssueFileError(problems or [Problem(step.path, None, None, "cannot render")])
    return rendered


def _upsert(conn: Connection) -> Any:
    return (sqlite if conn.dialect.name == "sqlite" else postgresql).insert(automation_steps)


def record_live(engine: Engine, live: list[Step], now: datetime) -> dict[str, datetime]:
    """Steps that are on keep the moment they were switched on (now, for one that was off
    at the last round); every other step is marked off. Returns each live step's moment."""
    t = automation_steps.c
    slugs = [step.send_slug for step in live]
    with engine.begin() as conn:
        conn.execute(automation_steps.update().where(t.slug.not_in(slugs), t.live_since.is_not(
            None)).values(live_since=None))
        for step in live:
            statement = _upsert(conn).values(slug=step.send_slug, live_since=now,
                                             body_hash=body_hash(step))
            conn.execute(statement.on_conflict_do_update(index_elements=["slug"], set_={
                "live_since": sa.func.coalesce(t.live_since, now),
                "body_hash": statement.excluded.body_hash}))
        rows = conn.execute(sa.select(t.slug, t.live_since).where(t.slug.in_(slugs))).all()
    return {str(slug): since for slug, since in rows}


def switch(engine: Engine, config: Config, name: str, on: bool, now: datetime) -> Step | None:
    """Switch a step off (`publisher automations disable`) or back on (`enable`); NAME is
    its file name or `automation:<name>`. Returns its file's step (None: only its send is
    left). Rows already in the outbox are not touched: `publisher cancel` ends those."""
    slug = step_slug(name)
    step = next((s for s in read_all_steps(config) if s.send_slug == slug), None)
    if step is None and slug not in existing_sends(engine):
        raise SendError(f"{name}: no such step (no file {slug.removeprefix(SEND_PREFIX)}.md "
                        f"in {config.automations_dir}, and no send {slug})")
    with engine.begin() as conn:
        statement = _upsert(conn).values(slug=slug, disabled_at=None if on else now)
        conn.execute(statement.on_conflict_do_update(index_elements=["slug"], set_={
            "disabled_at": statement.excluded.disabled_at,
            **({} if on else {"live_since": None})}))
    return step


def sync_steps(engine: Engine, config: Config, steps: list[Step], since: dict[str, datetime],
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
        elif dict(row.content or {}) != stored_form(rendered):
            with engine.begin() as conn:
                conn.execute(sends.update().where(sends.c.id == row.id).values(
                    content=stored_form(rendered), subject=rendered.subject[:998]))
        synced.append(StepSend(step, int(row.id), row.created_at, str(row.status),
                              since.get(step.send_slug, now)))
    return synced


def _create(engine: Engine, config: Config, rendered: RenderedEmail, now: datetime) -> Any:
    entry_id = f"tag:{config.site.domain},{now.date().isoformat()}:{rendered.slug}"
    try:
        with engine.begin() as conn:
            conn.execute(sends.insert().values(
                issue_slug=rendered.slug, entry_id=entry_id, subject=rendered.subject[:998],
                status=outbox.SEND_ACTIVE, audience_count=0, created_at=now,
                content=stored_form(rendered), kind=KIND))
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
    # Counted from RETURNING: psycopg's row count of an INSERT … SELECT through SQLAlchemy
    # is -1, which made every round recount the audience and log "enrolled -1".
    added = len(conn.execute(statement.returning(deliveries.c.id)).all())
    if added:
        outbox.record_editions(conn, send_id)
        count = sa.select(sa.func.count()).where(deliveries.c.send_id == send_id)
        conn.execute(sends.update().where(sends.c.id == send_id)
                     .values(audience_count=count.scalar_subquery()))
    reopen(conn, send_id)
    return added


def reopen(conn: Connection, send_id: int) -> None:
    """A done send that has rows to deliver is sending again, and so is a cancelled step's
    (its cancel ended the rows it had, not the step); a paused one stays paused, and a
    cancelled issue stays cancelled."""
    waiting = sa.exists().where(deliveries.c.send_id == send_id,
                                deliveries.c.status.in_(outbox.OPEN_STATES))
    ended = sa.or_(sends.c.status == outbox.SEND_DONE,
                   sa.and_(sends.c.status == outbox.SEND_CANCELLED, sends.c.kind == KIND))
    conn.execute(sends.update().where(sends.c.id == send_id, ended, waiting)
                 .values(status=outbox.SEND_ACTIVE, finished_at=None, cancelled_at=None))


def _not_enrolled(send_id: int) -> Any:
    return ~sa.exists().where(deliveries.c.send_id == send_id,
                              deliveries.c.subscriber_id == subscriber_table.c.id)


def window(since: datetime, step: Step, catch_up: timedelta) -> Any:
    """Confirmed subscribers in the automations whose due time falls inside the step's
    window (not yet due ones included): `since` is when the step was switched on."""
    s = subscriber_table.c
    return sa.and_(s.status == store.CONFIRMED, s.automations_at.is_not(None),
                   s.automations_at >= since - catch_up - step.delay)


def _in_flight(conn: Connection, send_id: int) -> bool:
    return bool(conn.execute(sa.select(sa.exists().where(
        deliveries.c.send_id == send_id, deliveries.c.status == outbox.SENDING))).scalar())


def enrol(engine: Engine, step_send: StepSend, earlier: list[StepSend], now: datetime,
          catch_up: timedelta) -> int:
    """Add the subscribers due for this step (and not waiting on an earlier one), and
    queue again the rows of those who came back since theirs failed or was cancelled.
    A cancelled send takes new rows once none of its old ones is in flight (a drain that
    claimed them before the cancel would otherwise put them back in the queue)."""
    s = subscriber_table.c
    earlier_rows = deliveries.alias("earlier")
    waiting_on_earlier = sa.exists().where(
        earlier_rows.c.subscriber_id == s.id, earlier_rows.c.status.in_(outbox.OPEN_STATES),
        earlier_rows.c.send_id.in_([e.send_id for e in earlier]))
    who = [window(step_send.since, step_send.step, catch_up),
           s.automations_at <= now - step_send.step.delay, ~waiting_on_earlier]
    with engine.begin() as conn:
        if step_send.status == outbox.SEND_CANCELLED and _in_flight(conn, step_send.send_id):
            return 0
        back = _requeue_returning(conn, step_send.send_id, who, now)
        return back + _insert_rows(conn, step_send.send_id,
                                   [*who, _not_enrolled(step_send.send_id)], now)


def _requeue_returning(conn: Connection, send_id: int, who: list[Any], now: datetime) -> int:
    """Rows never delivered (failed, cancelled) of readers who entered the automations again
    after the row was settled: queued again, as if new."""
    c, s = deliveries.c, subscriber_table.c
    returned = sa.exists().where(s.id == c.subscriber_id, s.automations_at > c.updated_at, *who)
    return int(conn.execute(deliveries.update().where(
        c.send_id == send_id, c.status.in_([outbox.FAILED, outbox.CANCELLED]), returned)
        .values(status=outbox.QUEUED, attempts=0, next_attempt_at=None, claimed_by=None,
                claimed_at=None, last_reply=None, sent_at=None, updated_at=now)).rowcount)


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
    """Add subscribers whose welcome was sent and who entered the automations after the
    latest mailed issue's send began (so were not in it) to that send; its audience still
    applies."""
    found = latest_mailed_issue(engine, config, now)
    if found is None or found[1].status in (outbox.SEND_CANCELLED, outbox.SEND_PAUSED):
        return None, 0
    issue, row = found
    s = subscriber_table.c
    welcomed = sa.exists().where(deliveries.c.send_id == welcome.send_id,
                                 deliveries.c.subscriber_id == s.id,
                                 deliveries.c.status == outbox.SENT)
    audience = audience_of(issue, config, row.audience) if row.audience else None
    who = [s.status == store.CONFIRMED, s.automations_at > row.created_at, welcomed,
           _not_enrolled(int(row.id)), audience.condition if audience else sa.true()]
    with engine.begin() as conn:
        return str(row.issue_slug), _insert_rows(conn, int(row.id), who, now)


@dataclass(frozen=True)
class StepStatus:
    """Where one step stands: on or off (and why), rows by outcome, and subscribers due
    now or later."""

    step: Step | None  # None: the file was removed; its send remains
    slug: str
    state: str  # the send's state, or "new" before its first daemon round
    off: str | None  # None: on; else draft, disabled or file removed
    sent: int
    failed: int
    due: int  # in the outbox, or due and enrolled at the next round
    pending: int  # inside the window, their delay not yet passed


def step_statuses(engine: Engine, config: Config, now: datetime) -> list[StepStatus]:
    """Each step file's status, then sends of step files since removed (read only)."""
    found = existing_sends(engine)
    catch_up = timedelta(hours=config.settings.sending.catch_up_hours)
    steps = read_all_steps(config)
    disabled = disabled_steps(engine)
    with engine.connect() as conn:
        since = {str(slug): at for slug, at in conn.execute(
            sa.select(automation_steps.c.slug, automation_steps.c.live_since)).all()}
    result = [_status(engine, step, found.get(step.send_slug), off_reason(step, disabled),
                      since.get(step.send_slug) or now, now, catch_up) for step in steps]
    files = {step.send_slug for step in steps}
    result += [_status(engine, None, row, OFF_REMOVED, now, now, catch_up)
               for slug, row in sorted(found.items()) if slug not in files]
    return result


def _status(engine: Engine, step: Step | None, row: Any, off: str | None, since: datetime,
            now: datetime, catch_up: timedelta) -> StepStatus:
    tally = outbox.counts(engine, int(row.id)) if row is not None else {}
    due = sum(tally.get(state, 0) for state in outbox.OPEN_STATES)
    pending = 0
    if step is not None and off is None:
        base = [window(since, step, catch_up)]
        if row is not None:
            base.append(_not_enrolled(int(row.id)))
        s = subscriber_table.c
        with engine.connect() as conn:
            count = sa.select(sa.func.count()).select_from(subscriber_table)
            due += int(conn.execute(count.where(*base, s.automations_at <= now - step.delay))
                       .scalar_one())
            pending = int(conn.execute(count.where(*base, s.automations_at > now - step.delay))
                          .scalar_one())
    slug = step.send_slug if step is not None else str(row.issue_slug)
    return StepStatus(step, slug, str(row.status) if row is not None else "new", off,
                      tally.get(outbox.SENT, 0), tally.get(outbox.FAILED, 0), due, pending)


def sent_elsewhere(engine: Engine, steps: list[Step]) -> list[tuple[Step, str, int]]:
    """Step files that have no send yet but say what another step, already sent, said
    (a file renamed): (step, the other step's slug, readers who had it). As a new step
    it would be mailed again to everyone inside its window."""
    t, c = automation_steps.c, deliveries.c
    with engine.connect() as conn:
        rows = conn.execute(sa.select(t.slug, t.body_hash, sa.func.count(c.id))
                            .join(sends, sends.c.issue_slug == t.slug)
                            .join(deliveries, c.send_id == sends.c.id)
                            .where(c.status == outbox.SENT, t.body_hash.is_not(None))
                            .group_by(t.slug, t.body_hash)).all()
    started = set(existing_sends(engine))
    found = []
    for step in steps:
        if step.send_slug in started:
            continue
        digest = body_hash(step)
        found += [(step, str(slug), int(n)) for slug, other, n in rows
                  if other == digest and slug != step.send_slug]
    return found


def rename_warnings(engine: Engine, steps: list[Step]) -> list[str]:
    """`sent_elsewhere`, as the lines `check` and `automations list` print."""
    return [f"{step.path}: same text as {other}, already sent to {readers} reader(s); as a "
            f"new step, {step.send_slug} goes again to every reader inside its window. To "
            f"keep it one step, name the file {other.removeprefix(SEND_PREFIX)}.md again"
            for step, other, readers in sent_elsewhere(engine, steps)]
