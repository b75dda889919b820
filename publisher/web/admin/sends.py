"""The console's sends: every send with its progress, one send's failures, and the controls.

Rule: pages are plain GET and POST forms (they work without JavaScript); the static script
only polls the live JSON to refresh figures while a send runs. Pause, resume, cancel and
retry go through publisher.sending.outbox, which alone writes sends and deliveries; cancel
first asks on a page of its own. Listings are keyset-paged (after=<id>), never OFFSET.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from publisher.analytics.figures import clicks_of_send
from publisher.errors import PublisherError, SendError
from publisher.i18n import N_, SEND_STATE_LABELS, Translator
from publisher.sending import control, enrolment, outbox, reports
from publisher.sending.reports import SendSummary
from publisher.web.admin import charts
from publisher.web.admin.console import (
    PREFIX,
    Console,
    Operator,
    action,
    data,
    keyset_after,
    page,
    path_id,
    see,
)

PAGE_SIZE = 50
DEFAULT_STATES = (outbox.FAILED, outbox.DEFERRED)
NOTICES = {
    "paused": N_("Paused: no new message leaves until you resume."),
    "resumed": N_("Resumed: sending goes on from where it stopped."),
    "cancelled": N_("Cancelled: {n} deliveries will never be made; {sent} were sent."),
    "retried": N_("{n} failed deliveries are queued again; the daemon sends them."),
    "unchanged": N_("Nothing changed: the state had already moved on."),
}
# Why an automation step is off (enrolment.StepStatus.off), in the console's words.
STEP_OFF_TEXTS = {
    "draft": N_("Step off: its file is a draft; nobody new is enrolled"),
    "disabled": N_("Step off: disabled (publisher automations enable turns it back on); "
                   "nobody new is enrolled"),
    "file removed": N_("Step off: its file was removed; nobody new is enrolled"),
}
NOTICE_FIGURES = ("n", "sent", "flight")  # the counts a notice may carry in its URL


def routes(console: Console) -> list[BaseRoute]:
    h = _Handlers(console)
    one = PREFIX + "/sends/{send_id:int}"
    return [
        Route(PREFIX, page(console, h.sends_page), methods=["GET"]),
        Route(PREFIX + "/sends", page(console, h.sends_page), methods=["GET"]),
        Route(PREFIX + "/live.json", data(console, h.live_all), methods=["GET"]),
        Route(one, page(console, h.send_page), methods=["GET"]),
        Route(one + "/live.json", data(console, h.live_one), methods=["GET"]),
        Route(one + "/pause", action(console, h.pause), methods=["POST"]),
        Route(one + "/resume", action(console, h.resume), methods=["POST"]),
        Route(one + "/retry", action(console, h.retry), methods=["POST"]),
        Route(one + "/cancel", page(console, h.cancel_page), methods=["GET"]),
        Route(one + "/cancel", action(console, h.cancel), methods=["POST"]),
    ]


def rate_label(per_second: float | None, translator: Translator) -> str:
    """12.5/s (12.5 封/秒); a dash when unknown."""
    if per_second is None:
        return "—"
    return translator.gettext("{rate}/s", rate=format(per_second, ".1f"))


def duration_label(seconds: float | None, translator: Translator) -> str:
    """3 h 05 min, 4 min 20 s, 12 s in the console's language; a dash when unknown."""
    if seconds is None:
        return "—"
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return translator.gettext("{h} h {m:02d} min", h=hours, m=minutes)
    if minutes:
        return translator.gettext("{m} min {s:02d} s", m=minutes, s=secs)
    return translator.gettext("{s} s", s=secs)


def view(console: Console, summary: SendSummary) -> dict[str, Any]:
    """What the page and the live JSON show of a send: the same figures, the same words.
    Progress counts delivered mail only: failed and cancelled rows are not progress."""
    sent = summary.counts[outbox.SENT]
    translator = console.state.translator
    return {
        "id": summary.send_id, "slug": summary.slug, "subject": summary.subject,
        "state": summary.state, "state_label": console.gettext(SEND_STATE_LABELS[summary.state]),
        "counts": summary.counts, "total": summary.total, "sent": sent,
        "percent": round(100 * sent / summary.total, 1) if summary.total else 100.0,
        "rate": rate_label(summary.rate_per_second, translator),
        "average_rate": rate_label(summary.average_rate, translator),
        "eta": duration_label(summary.eta_seconds, translator),
        "started": console.local(summary.first_sent_at or summary.created_at),
        "finished": console.local(summary.finished_at),
        "bounce_rate": f"{summary.bounce_rate:.2%}",
        "complaint_rate": f"{summary.complaint_rate:.3%}",
        "over_limits": summary.over_limits, "pruned": summary.pruned,
        "audience": summary.audience,  # the tag expression; None: every confirmed subscriber
        "by_language": summary.by_language,  # counts per state of each language sent
    }


def delivery_filters(request: Request) -> tuple[list[str], str, int]:
    """The states, reply text and keyset position a listing asks for (defaults: failures)."""
    states = [s for s in request.query_params.getlist("state") if s in outbox.STATES]
    reply = request.query_params.get("reply", "").strip()[:200]
    return states or list(DEFAULT_STATES), reply, keyset_after(request)


def notice(console: Console, request: Request) -> str:
    """The line a control leaves on the page it redirects to, with its counts."""
    key = request.query_params.get("notice", "")
    if key not in NOTICES:
        return ""
    figures = {name: _figure(request.query_params.get(name, "0"))
               for name in NOTICE_FIGURES}
    text = console.gettext(NOTICES[key], **figures)
    if key == "cancelled" and figures["flight"] != "0":
        text += console.gettext(" {flight} still in flight are recorded by their process.",
                                **figures)
    return text


def _figure(value: str) -> str:
    return value if value.isascii() and value.isdigit() and len(value) < 20 else "0"


class _Handlers:
    def __init__(self, console: Console) -> None:
        self.console = console

    def _summary(self, send_id: int) -> SendSummary:
        engine = self.console.engine
        control.send_state(engine, send_id)  # SendNotFound (404) when there is none
        return reports.send_summary(engine, send_id, self.console.clock())

    async def sends_page(self, request: Request, operator: Operator) -> Response:
        console = self.console
        summaries = reports.send_summaries(console.engine, console.clock())
        return console.render("sends.html.j2", operator, sends=[view(console, s)
                                                               for s in summaries],
                              steps_off=self._steps_off(), live=PREFIX + "/live.json",
                              notice=notice(console, request))

    def _steps_off(self) -> dict[str, str]:
        """Send slug -> why that automation step is switched off, in the console's words."""
        console = self.console
        try:
            statuses = enrolment.step_statuses(console.engine, console.config, console.clock())
        except PublisherError:  # a broken step file: `publisher check` says which
            return {}
        return {status.slug: console.gettext(STEP_OFF_TEXTS[status.off])
                for status in statuses if status.off is not None}

    async def live_all(self, request: Request, operator: Operator) -> Response:
        summaries = reports.send_summaries(self.console.engine, self.console.clock())
        return JSONResponse({"sends": [view(self.console, s) for s in summaries]})

    async def live_one(self, request: Request, operator: Operator) -> Response:
        summary = self._summary(path_id(request, "send_id"))
        return JSONResponse({"sends": [view(self.console, summary)]})

    async def send_page(self, request: Request, operator: Operator) -> Response:
        console = self.console
        send_id = path_id(request, "send_id")
        summary = self._summary(send_id)
        states, reply, after = delivery_filters(request)
        rows = reports.deliveries_page(console.engine, send_id, states, reply, after,
                                       PAGE_SIZE + 1)
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        next_page = (f"{request.url.path}?" + urlencode(
            [*(("state", s) for s in states), ("reply", reply), ("after", rows[-1].id)])
            if more else "")
        series = reports.progress_series(console.engine, send_id)
        chart = [(size.name, charts.progress_chart(series, summary.total, console.language,
                                                   console.config.site.zone, size))
                 for size in charts.SIZES]
        return console.render(
            "send.html.j2", operator, send=view(console, summary), rows=rows, states=states,
            all_states=outbox.STATES, reply=reply, next_page=next_page, chart=chart,
            groups=reports.failures_by_reply(console.engine, send_id),
            links=clicks_of_send(console.engine, send_id),
            live=f"{PREFIX}/sends/{send_id}/live.json", notice=notice(console, request),
            bounce_limit=f"{reports.BOUNCE_RATE_LIMIT:.0%}",
            complaint_limit=f"{reports.COMPLAINT_RATE_LIMIT:.1%}")

    def _back(self, request: Request, send_id: int, key: str, **figures: int) -> Response:
        where = f"{PREFIX}/sends/{send_id}"
        if request.state.form.get("back") == "list":
            where = PREFIX + "/sends"
        return see(f"{where}?" + urlencode({"notice": key, **figures}))

    async def pause(self, request: Request, operator: Operator) -> Response:
        send_id = self._summary(path_id(request, "send_id")).send_id
        done = control.pause(self.console.engine, send_id, self.console.clock())
        return self._back(request, send_id, "paused" if done else "unchanged")

    async def resume(self, request: Request, operator: Operator) -> Response:
        send_id = self._summary(path_id(request, "send_id")).send_id
        done = control.resume(self.console.engine, send_id)
        return self._back(request, send_id, "resumed" if done else "unchanged")

    async def retry(self, request: Request, operator: Operator) -> Response:
        send_id = self._summary(path_id(request, "send_id")).send_id
        try:
            count = control.retry_failed(self.console.engine, send_id, self.console.clock())
        except SendError:  # pruned: nothing can be sent again
            return self._back(request, send_id, "unchanged")
        return self._back(request, send_id, "retried", n=count)

    async def cancel_page(self, request: Request, operator: Operator) -> Response:
        console = self.console
        summary = self._summary(path_id(request, "send_id"))
        return console.render(
            "confirm.html.j2", operator, heading=console.gettext("Cancel this send?"),
            text=console.ngettext(
                "{slug}: {n} delivery is not made yet; it will never be sent, unless it is "
                "already handed to the mail server, which finishes it. Messages already sent "
                "stay sent. This cannot be undone.",
                "{slug}: {n} deliveries are not made yet; they will never be sent, except any "
                "already handed to the mail server, which finish. Messages already sent stay "
                "sent. This cannot be undone.", summary.remaining, slug=summary.slug),
            action=f"{PREFIX}/sends/{summary.send_id}/cancel",
            button=console.gettext("Cancel the send"),
            back=f"{PREFIX}/sends/{summary.send_id}", back_label=console.gettext("Keep sending"))

    async def cancel(self, request: Request, operator: Operator) -> Response:
        console = self.console
        send_id = self._summary(path_id(request, "send_id")).send_id
        lease = timedelta(seconds=console.config.settings.sending.lease_seconds)
        done = await run_in_threadpool(control.cancel_and_settle, console.engine, send_id,
                                       console.clock(), lease)
        if done is None:
            return self._back(request, send_id, "unchanged")
        return self._back(request, send_id, "cancelled", n=done.cancelled, sent=done.sent,
                          flight=done.in_flight)
