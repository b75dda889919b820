"""The console's readership page: feed readership over time (a chart), each feed's
aggregator counts, the archive's views per issue page, and the most clicked links of
emails; all of it aggregate counts (publisher.analytics), nothing about any one reader.

Rule: like the charts page, the chart is SVG drawn on the server and inlined at both sizes.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from publisher.analytics import figures
from publisher.web.admin import charts
from publisher.web.admin.console import PREFIX, Console, Operator, page

CHART_DAYS = 90
VIEWED_PAGES = 50  # the most viewed issue pages listed
TOP_LINKS = 10  # the most clicked links of emails, across issues


def routes(console: Console) -> list[BaseRoute]:
    async def readership_page(request: Request, operator: Operator) -> Response:
        today = console.clock().astimezone(console.config.site.zone).date()
        days = figures.feed_days(console.engine, CHART_DAYS, today)
        return console.render(
            "readership.html.j2", operator, days=CHART_DAYS,
            feeds_chart=[(size.name, charts.feeds_chart(days, console.language, size))
                         for size in charts.SIZES],
            feeds=figures.feed_readership(console.engine),
            pages=figures.issue_views(console.engine)[:VIEWED_PAGES],
            top_links=figures.top_links(console.engine, TOP_LINKS))

    return [Route(PREFIX + "/readership", page(console, readership_page), methods=["GET"])]
