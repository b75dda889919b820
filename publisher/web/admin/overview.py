"""The console's charts page: subscribers over time, bounce and complaint rate per send.

Rule: the charts are SVG drawn on the server (publisher.web.admin.charts) and inlined, so
the page needs no script and renders the same with JavaScript off; each at both sizes, of
which the stylesheet shows the one that fits.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from publisher.sending import reports
from publisher.subscribers import activity
from publisher.web.admin import charts
from publisher.web.admin.console import PREFIX, Console, Operator, page

CHART_DAYS = 90


def routes(console: Console) -> list[BaseRoute]:
    async def charts_page(request: Request, operator: Operator) -> Response:
        now = console.clock()
        days = activity.daily_activity(console.engine, CHART_DAYS, now.date())
        sends = reports.send_summaries(console.engine, now)
        return console.render(
            "charts.html.j2", operator, days=CHART_DAYS,
            subscribers_chart=[(size.name, charts.subscribers_chart(days, console.language, size))
                               for size in charts.SIZES],
            rates_chart=[(size.name, charts.rates_chart(sends, console.language, size))
                         for size in charts.SIZES])

    return [Route(PREFIX + "/charts", page(console, charts_page), methods=["GET"])]
