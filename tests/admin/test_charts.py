"""The console's charts: SVG parsed with lxml, points counted per series, limits drawn,
labels in the site's language, nothing a page's CSP would block, the same bytes each time."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from lxml import etree

from publisher.analytics.figures import FeedDay
from publisher.i18n import shipped_catalogs
from publisher.sending.outbox import STATES
from publisher.sending.reports import SendSummary
from publisher.subscribers.activity import DayActivity
from publisher.web.admin.charts import (
    NARROW,
    SIZES,
    Size,
    feeds_chart,
    progress_chart,
    rates_chart,
    subscribers_chart,
)
from tests.catalogs import catalog, msgids

T0 = datetime(2024, 6, 16, 1, 0, tzinfo=UTC)
DAILY = ("confirmed", "unsubscribed", "bounced", "complained")


def thirty_days() -> list[DayActivity]:
    return [DayActivity(day=date(2024, 6, 1) + timedelta(days=n), confirmed=n % 5,
                        unsubscribed=n % 3, bounced=n % 2, complained=int(n % 7 == 0),
                        total_confirmed=1000 + 4 * n) for n in range(30)]


def thirty_feed_days() -> list[FeedDay]:
    return [FeedDay(day=date(2024, 6, 1) + timedelta(days=n), fetches=40 + n,
                    other_fetchers=n % 4) for n in range(30)]


def summary(number: int, sent: int, bounces: int, complaints: int) -> SendSummary:
    counts = dict.fromkeys(STATES, 0) | {"sent": sent}
    return SendSummary(
        send_id=number, slug=f"2024-0{number}-digest", subject=f"Digest {number}",
        state="done", counts=counts, total=sent, created_at=T0 + timedelta(days=30 * number),
        finished_at=None, paused_at=None, cancelled_at=None, first_sent_at=None,
        last_sent_at=None, rate_per_second=None, average_rate=None, eta_seconds=None,
        bounces=bounces, complaints=complaints, pruned=False)


# Newest first, as reports.send_summaries gives them. Over a limit: #2 bounces 3 %,
# #4 complaints 0.4 %; #5 sits exactly on both limits (not over).
FIVE_SENDS = [summary(5, 1000, 20, 3), summary(4, 1000, 5, 4), summary(3, 1000, 0, 0),
              summary(2, 1000, 30, 1), summary(1, 1000, 10, 2)]


def parse(svg: str) -> etree._Element:
    return etree.fromstring(svg.encode())


def points(root: etree._Element, key: str) -> list[etree._Element]:
    """The plotted points of one series: its `circle.dot`s (see charts.py's docstring)."""
    return list(root.xpath(f"//*[local-name()='g'][contains(concat(' ', @class, ' '), "
                           f"' series-{key} ')]//*[local-name()='circle']"
                           "[contains(concat(' ', @class, ' '), ' dot ')]"))


def tooltips(root: etree._Element, key: str) -> list[str]:
    return [str(title) for dot in points(root, key)
            for title in dot.getparent().xpath("*[local-name()='title']/text()")]


def texts(root: etree._Element) -> list[str]:
    return [str(text) for text in root.xpath("//*[local-name()='text']/text()")]


def test_thirty_days_of_subscribers_plot_thirty_points_in_each_of_the_five_series() -> None:
    root = parse(subscribers_chart(thirty_days(), "en"))
    for key in (*DAILY, "total-confirmed"):
        assert len(points(root, key)) == 30, key
    assert tooltips(root, "total-confirmed")[-1] == (
        "2024-06-30 Confirmed subscribers (right axis): 1,116")
    assert tooltips(root, "complained")[7] == "2024-06-08 Spam complaints: 1"
    assert root.get("id") == "chart-subscribers"
    assert root.get("aria-label") == "Subscribers per day"


def test_a_sends_progress_plots_each_sample_and_its_audience_as_a_line() -> None:
    samples = [(T0 + timedelta(minutes=n), 25 * n) for n in range(41)]
    root = parse(progress_chart(samples, 1200, "en"))
    assert len(points(root, "sent")) == 41
    assert tooltips(root, "sent")[-1] == "01:40 Sent so far: 1,000"
    assert points(root, "total") == []  # a reference line, no dots
    assert root.xpath("//*[contains(@class, 'series-total')]/*[local-name()='path']")
    assert "Audience: 1,200" in texts(root)
    assert "Time (UTC)" in texts(root)


def test_thirty_days_of_feed_readership_plot_thirty_points_in_both_series() -> None:
    root = parse(feeds_chart(thirty_feed_days(), "en"))
    assert root.get("id") == "chart-feeds"
    assert [len(points(root, key)) for key in ("feed-fetches", "other-fetchers")] == [30, 30]
    assert "2024-06-30 Feed fetches: 69" in root.xpath("//*[local-name()='title']/text()")


def test_rates_plot_one_point_per_send_and_both_limits_and_mark_the_sends_over_them() -> None:
    root = parse(rates_chart(FIVE_SENDS, "en"))
    assert len(points(root, "bounce-rate")) == len(points(root, "complaint-rate")) == 5
    for key in ("bounce-limit", "complaint-limit"):
        assert points(root, key) == []
        assert root.xpath(f"//*[contains(@class, 'series-{key}')]/*[local-name()='path']"), key
    assert {"Bounce rate limit (2 %)", "Complaint rate limit (0.3 %)"} <= set(texts(root))
    over = root.xpath("//*[local-name()='circle'][contains(@class, 'over-limit')]")
    assert [dot.getparent().findtext("{*}title") for dot in over] == [
        "2024-02-digest Bounce rate: 3.00 % (over the limit)",
        "2024-04-digest Complaint rate: 0.40 % (over the limit)",
    ]
    labels = [t for t in texts(root) if "digest" in t]
    assert labels == ["2024-01-digest", "⚠ 2024-02-digest", "2024-03-digest",
                      "⚠ 2024-04-digest", "2024-05-digest"]  # oldest first


def test_chinese_labels_are_written_in_chinese_with_a_cjk_font_fallback() -> None:
    svg = subscribers_chart(thirty_days(), "zh-CN")
    root = parse(svg)
    assert {"新确认订阅", "退订", "退信", "垃圾邮件举报", "已确认订阅者（右轴）"} <= set(
        texts(root))
    assert root.get("aria-label") == "每日订阅变化"
    assert '"Noto Sans CJK SC"' in svg
    rates = texts(parse(rates_chart(FIVE_SENDS, "zh")))
    assert {"退信率", "投诉率", "退信率上限（2 %）", "投诉率上限（0.3 %）"} <= set(rates)


@pytest.mark.parametrize("chart", [
    lambda: subscribers_chart(thirty_days(), "en"),
    lambda: progress_chart([(T0, 0), (T0 + timedelta(hours=2), 9)], 9, "en"),
    lambda: rates_chart(FIVE_SENDS, "zh"),
    lambda: feeds_chart(thirty_feed_days(), "zh"),
])
def test_a_chart_has_no_script_comment_declaration_or_link_and_is_the_same_each_time(
    chart: Callable[[], str],
) -> None:
    svg = chart()
    assert svg == chart()
    assert svg.startswith("<svg ")
    root = parse(svg)
    assert not root.xpath("//*[local-name()='script']")
    assert not root.xpath("//comment() | //processing-instruction()")
    assert not root.xpath("//@*[local-name()='href' or starts-with(name(), 'on')]")
    assert "http://" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "").replace(
        'xmlns:xlink="http://www.w3.org/1999/xlink"', "")
    assert "background-color:transparent" in svg  # the page's light or dark shows through


@pytest.mark.parametrize("language, label", [("en", "No data yet"), ("zh", "暂无数据")])
def test_no_data_yet_says_so_instead_of_failing(language: str, label: str) -> None:
    for svg in (subscribers_chart([], language), progress_chart([], 0, language),
                rates_chart([], language), feeds_chart([], language),
                feeds_chart([FeedDay(date(2024, 6, 1), 0, 0)], language)):
        root = parse(svg)
        assert root.xpath("//*[local-name()='text'][@class='no_data']/text()") == [label]
        assert not root.xpath("//*[local-name()='circle']")


def test_one_sample_and_one_send_still_draw_a_chart() -> None:
    progress = parse(progress_chart([(T0, 3)], 10, "en"))
    assert len(points(progress, "sent")) == 1
    rates = parse(rates_chart([summary(1, 0, 0, 0)], "en"))  # nothing sent: rates are 0
    assert len(points(rates, "bounce-rate")) == 1
    assert rates.xpath("//*[contains(@class, 'series-bounce-limit')]/*[local-name()='path']")


def test_every_language_has_the_same_strings() -> None:
    english = msgids(catalog("en"))
    assert {(None, "No data yet"), (None, "Subscribers per day")} <= english
    for language in shipped_catalogs():
        ids = msgids(catalog(language))
        assert ids == english, (language, sorted(ids ^ english))


def x_labels(root: etree._Element) -> list[str]:
    return [str(text) for text in root.xpath(
        "//*[local-name()='g'][contains(concat(' ', @class, ' '), ' axis ')]"
        "[contains(concat(' ', @class, ' '), ' x ')]//*[local-name()='text']/text()")]


@pytest.mark.parametrize("size", SIZES, ids=lambda size: size.name)
@pytest.mark.parametrize("seconds", [1, 20, 50, 130, 3 * 3600, 3 * 86400])
def test_time_labels_all_differ_however_long_the_send(seconds: int, size: Size) -> None:
    samples = [(T0 + timedelta(seconds=seconds * n / 10), 10 * n) for n in range(11)]
    labels = x_labels(parse(progress_chart(samples, 100, "en", size=size)))
    assert 2 <= len(labels) <= size.x_labels, labels
    assert len(set(labels)) == len(labels), labels


def test_a_twenty_second_send_is_labelled_in_seconds() -> None:
    samples = [(T0 + timedelta(seconds=2 * n), n) for n in range(11)]
    assert x_labels(parse(progress_chart(samples, 10, "en"))) == [
        "01:00:00", "01:00:10", "01:00:20", "01:00:30", "01:00:40", "01:00:50", "01:01:00"]


def test_each_chart_is_drawn_narrow_too_with_its_own_id_and_a_one_column_legend() -> None:
    for name, svg in (("subscribers", subscribers_chart(thirty_days(), "zh", NARROW)),
                      ("progress", progress_chart([(T0, 1), (T0 + timedelta(hours=1), 5)], 9,
                                                  "zh", size=NARROW)),
                      ("rates", rates_chart(FIVE_SENDS, "zh", NARROW)),
                      ("feeds", feeds_chart(thirty_feed_days(), "zh", NARROW))):
        root = parse(svg)
        assert root.get("id") == f"chart-{name}-narrow"
        assert root.get("viewBox") == "0 0 360 420"
        legend_x = {rect.get("x") for rect in root.xpath(
            "//*[local-name()='g'][@class='legends']//*[local-name()='rect']")}
        assert legend_x == {"0.0"}, (name, legend_x)
