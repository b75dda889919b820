"""The console's readership page over HTTP: the access log's counts as a person sees them
(feed readership per day as a chart, each aggregator's count, views per issue page), in the
site's language, behind the console's login like every other page."""

from __future__ import annotations

import re
from datetime import timedelta

from lxml import etree

from publisher.analytics.ingest import ingest_file
from publisher.config import Config
from publisher.db import open_database
from publisher.web.admin.readership import CHART_DAYS
from tests.admin.helpers import console_served, log_in, with_language
from tests.admin.test_charts import points
from tests.analytics.helpers import ACCESS_LOG, EXPECTED_FEEDS, EXPECTED_VIEWS, NOW

FEED_DAY_POINT = re.compile(r"2026-12-07 Feed fetches: ([0-9,]+)")


def counted(config: Config) -> None:
    ingest_file(open_database(config.database_url), ACCESS_LOG, config.site.zone)


def charts_of(html: str) -> list[etree._Element]:
    return [etree.fromstring(svg.encode()) for svg in
            re.findall(r'<svg[^>]*class="[^"]*publisher-chart.*?</svg>', html, re.S)]


def test_the_page_shows_the_logs_feed_readership_aggregators_and_views(
        seed_config: Config) -> None:
    counted(seed_config)
    with console_served(with_language(seed_config, "en")) as site, site.client() as client:
        site.clock.now = NOW + timedelta(days=1)  # the log's day is yesterday on the chart
        assert client.get("/admin/readership").status_code == 303  # behind the login
        log_in(client)
        page = client.get("/admin/readership")
    assert page.status_code == 200, page.text[:2000]
    assert '<a href="/admin/readership">' in page.text
    wide, narrow = charts_of(page.text)
    assert wide.get("id") == "chart-feeds" and narrow.get("id") == "chart-feeds-narrow"
    for chart in (wide, narrow):
        assert len(points(chart, "feed-fetches")) == CHART_DAYS
        assert len(points(chart, "other-fetchers")) == CHART_DAYS
    fetches = sum(f for f, _, _ in EXPECTED_FEEDS.values())
    assert FEED_DAY_POINT.findall(page.text) == [str(fetches)] * 2  # one a size
    for feed, (_, _, aggregators) in EXPECTED_FEEDS.items():
        for name, subscribers in aggregators.items():
            row = re.search(rf'<tr data-feed="{re.escape(feed)}" data-aggregator="{name}">'
                            r'(.*?)</tr>', page.text, re.S)
            assert row, (feed, name)
            assert f'<td data-field="subscribers">{subscribers:,}</td>' in row.group(1)
    for issue_page, views in EXPECTED_VIEWS.items():
        assert (f'<tr data-page="{issue_page}"><td><a href="{issue_page}">{issue_page}</a></td>'
                f'<td data-field="views">{views}</td></tr>') in page.text


def test_before_anything_is_counted_the_page_says_so_in_the_sites_language(
        seed_config: Config) -> None:
    with console_served(with_language(seed_config, "zh-CN")) as site, \
            site.client() as client:
        log_in(client)
        page = client.get("/admin/readership")
    assert page.status_code == 200
    assert "<h1>读者</h1>" in page.text and "订阅源读者，最近 90 天" in page.text
    wide, _ = charts_of(page.text)
    assert [node.text for node in wide.iter("{*}text")
            if "no_data" in (node.get("class") or "")] == ["暂无数据"]
    assert page.text.count("<table") == 0
