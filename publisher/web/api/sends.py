"""/api/v1/sends: list sends, one send's counts and state, its report, and pause, resume or
cancel it.

The figures are publisher.sending.reports' (the report is `publisher report --json`'s
document); the controls are publisher.sending.control's, refused as the CLI refuses them: a
send not in the state the verb needs answers 409 saying which state it is in. A cancel waits,
off the event loop, for the rows in flight to be recorded, as `publisher cancel` does.
"""

from __future__ import annotations

from datetime import timedelta

from starlette.concurrency import run_in_threadpool

from publisher.analytics import figures
from publisher.errors import SendError
from publisher.sending import control, outbox, reports
from publisher.web.api.models import Report, Send, SendList
from publisher.web.api.operations import Call, Operation
from publisher.web.errors import Conflict, NotFound

READ, WRITE = "sends:read", "sends:write"


def _model(summary: reports.SendSummary) -> Send:
    return Send(id=summary.send_id, issue=summary.slug, subject=summary.subject,
                state=summary.state, counts=summary.counts,  # type: ignore[arg-type]
                total=summary.total, remaining=summary.remaining,
                created_at=summary.created_at, finished_at=summary.finished_at,
                paused_at=summary.paused_at, cancelled_at=summary.cancelled_at,
                audience=summary.audience, pruned=summary.pruned)


def _summary(call: Call) -> reports.SendSummary:
    try:
        return reports.send_summary(call.state.engine, call.id, call.state.clock())
    except SendError as exc:
        raise NotFound() from exc


async def listed(call: Call) -> SendList:
    summaries = reports.send_summaries(call.state.engine, call.state.clock())
    return SendList(items=[_model(summary) for summary in summaries])


async def one(call: Call) -> Send:
    return _model(_summary(call))


async def report(call: Call) -> Report:
    summary = _summary(call)
    engine = call.state.engine
    failures = reports.failures_by_reply(engine, call.id)
    clicks = figures.clicks_of_send(engine, call.id)
    return Report.model_validate(reports.report_data(summary, failures, clicks))


def _refused(call: Call, what: str) -> Conflict:
    """The send is not in the state the verb needs: the CLI's line (control.refusal)."""
    return Conflict(control.refusal(call.state.engine, call.id, what))


async def pause(call: Call) -> Send:
    control.send_state(call.state.engine, call.id)  # SendNotFound: 404
    if not control.pause(call.state.engine, call.id, call.state.clock()):
        raise _refused(call, control.ONLY_SENDING)
    return _model(_summary(call))


async def resume(call: Call) -> Send:
    control.send_state(call.state.engine, call.id)
    if not control.resume(call.state.engine, call.id):
        raise _refused(call, control.ONLY_PAUSED)
    return _model(_summary(call))


async def cancel(call: Call) -> Send:
    what = control.ONLY_OPEN
    state = control.send_state(call.state.engine, call.id)
    if state not in (outbox.SEND_ACTIVE, outbox.SEND_PAUSED):
        raise _refused(call, what)
    lease = timedelta(seconds=call.state.config.settings.sending.lease_seconds)
    done = await run_in_threadpool(control.cancel_and_settle, call.state.engine, call.id,
                                   call.state.clock(), lease)
    if done is None:  # it ended meanwhile
        raise _refused(call, what)
    return _model(_summary(call))


OPERATIONS = [
    Operation("GET", "/sends", "listSends", "Every send, newest first", READ, listed, SendList),
    Operation("GET", "/sends/{id}", "getSend", "One send's state and counts", READ, one, Send),
    Operation("GET", "/sends/{id}/report", "getSendReport",
              "The `publisher report --json` document of one send", READ, report, Report),
    Operation("POST", "/sends/{id}/pause", "pauseSend", "Pause a sending send", WRITE, pause,
              Send, conflicts=True),
    Operation("POST", "/sends/{id}/resume", "resumeSend", "Resume a paused send", WRITE,
              resume, Send, conflicts=True),
    Operation("POST", "/sends/{id}/cancel", "cancelSend",
              "Cancel a sending or paused send for good", WRITE, cancel, Send, conflicts=True),
]
