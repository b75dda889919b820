"""The console as an operator sees it on a phone (375 px) and a desktop (1280 px), in headless
Chromium: the sends list and a send's page never scroll sideways, every action button is on
screen (not pushed out of its table's box), a long slug wraps, and the progress chart reads:
its legend whole, its time labels all different, its text at least 10 px high; so do the
charts page and the readership page (whose long page paths and links wrap, as a send's
links do). The webhooks page, too: its endpoints' long URLs wrap, and its replay form stays
on screen.

Two sends of issues under tests/data/console/ (the site is the seed's, in Chinese): one with
an 88-character slug still sending (its 451-refused rows deferred), one paused."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, sync_playwright

from publisher.analytics import counters
from publisher.analytics.tally import Batch
from publisher.config import Config
from publisher.dev.screenshot import CHROMIUM, CHROMIUM_ARGS
from publisher.sending import control, outbox
from publisher.sending.drain import options_from
from publisher.sending.send_issue import ready, run_send, start
from tests.admin.helpers import PASSWORD, USERNAME, Clock, Served, console_served
from tests.conftest import DATA
from tests.sending.faulty_smtp import FaultySMTP
from tests.sending.helpers import SECRETS, add_confirmed, smtp_site
from tests.webhooks.console_site import FAR, READERS, webhooks_console
from tests.webhooks.helpers import SECRET_ENV

ISSUES = DATA / "console"
LONG = ISSUES / ("2024-06-a-very-long-issue-slug-that-an-editor-wrote-to-say-everything-"
                 "about-this-edition.md")
SHORT = ISSUES / "2024-07-short.md"
AUDIENCE = 60
DEFERRED = 10  # u0 … u9 get a 451: the send stays `sending`
WIDTHS = (375, 1280)
FEED_LEGEND = ("订阅源抓取次数", "其他抓取者（每日去重）")
SUBSCRIBER_LEGEND = ("新确认订阅", "退订", "退信", "垃圾邮件举报", "已确认订阅者（右轴）")
RATE_LEGEND = ("退信率", "投诉率", "退信率上限（2 %）", "投诉率上限（0.3 %）")
# A link an issue might carry: one long word of a URL, which must wrap, not widen the page.
LONG_LINK = ("https://arxiv.org/abs/2406.09403/" + "a-long-path-segment-" * 6
             + "?utm_source=newsletter&utm_campaign=" + "x" * 40)

# Every element the selector finds, with whether anything hides part of it: the page's
# edges, or an ancestor that clips or scrolls (a table's scrolling box).
PLACES = """(selector) => [...document.querySelectorAll(selector)].map((el) => {
  const r = el.getBoundingClientRect();
  const width = document.documentElement.clientWidth;
  let clipped = r.width === 0 || r.height === 0 || r.left < 0 || r.right > width + 0.5;
  for (let a = el.parentElement; a; a = a.parentElement) {
    if (getComputedStyle(a).overflowX !== "visible") {
      const b = a.getBoundingClientRect();
      if (r.left < b.left - 0.5 || r.right > b.right + 0.5) { clipped = true; }
    }
  }
  return {text: el.textContent.trim(), left: r.left, right: r.right, height: r.height,
          clipped: clipped};
})"""

# The chart the stylesheet shows at this width: its legend and x-axis labels as placed.
SHOWN_CHART = """(index) => {
  const shown = [...document.querySelectorAll(".chart-box")[index].children]
    .filter((d) => getComputedStyle(d).display !== "none");
  const svg = shown[0].querySelector("svg");
  const box = svg.getBoundingClientRect();
  const place = (t) => { const r = t.getBoundingClientRect();
    return {text: t.textContent, left: r.left, right: r.right, top: r.top,
            bottom: r.bottom, height: r.height}; };
  return {shown: shown.length, id: svg.id,
          box: {left: box.left, right: box.right, top: box.top, bottom: box.bottom},
          legend: [...svg.querySelectorAll(".legends text")].map(place),
          x: [...svg.querySelectorAll(".axis.x text")].map(place),
          y: [...svg.querySelectorAll(".axis.y text")].map(place)};
}"""


@dataclass
class Sends:
    site: Served
    long_id: int
    short_id: int


def ticking(clock: Clock) -> Callable[[], datetime]:
    """The console's clock, moved on half a second at each reading: a drain of a few
    dozen messages spans some seconds, as a real one does."""
    def now() -> datetime:
        clock.advance(seconds=0.5)
        return clock.now
    return now


def refusing(recipient: str, attempt: int) -> str:
    return "451" if int(recipient.split("@")[0][1:]) < DEFERRED else "ok"


@pytest.fixture
def sends(seed_config: Config) -> Iterator[Sends]:
    with FaultySMTP(refusing) as smtp, console_served(smtp_site(seed_config, smtp.port)) as site:
        add_confirmed(site.engine, AUDIENCE)
        long_id = start(site.engine, site.config, ready(site.config, LONG), site.clock())
        run_send(site.engine, site.config, SECRETS, long_id, ticking(site.clock),
                 options_from(site.config))
        short_id = start(site.engine, site.config, ready(site.config, SHORT), site.clock())
        control.pause(site.engine, short_id, site.clock())
        site.clock.advance(minutes=1)
        yield Sends(site, long_id, short_id)


def thirty_days_of_readership(today: date) -> Batch:
    """A feed fetched every day of the last thirty, and one long issue page viewed."""
    batch = Batch()
    for n in range(30):
        day = today - timedelta(days=n)
        batch.fetches[(day, "/feed.atom")] += 100 + n
        batch.new_fetchers[(day, "/feed.atom")] += n % 5
    batch.views[(today, f"/issues/{LONG.stem}/")] += 3
    return batch


def sign_in(page: Page, url: str) -> None:
    page.goto(url + "/admin/login")
    page.fill("#login-username", USERNAME)
    page.fill("#login-password", PASSWORD)
    with page.expect_navigation():
        page.click("form.login button[type=submit]")


def no_sideways_scroll(page: Page, width: int, what: str) -> None:
    scrolled = page.evaluate("document.documentElement.scrollWidth")
    assert scrolled <= width, f"{what} is {scrolled} px wide at {width}"


def all_on_screen(page: Page, selector: str, count: int, what: str) -> list[dict[str, Any]]:
    places: list[dict[str, Any]] = page.evaluate(PLACES, selector)
    assert len(places) == count, (what, places)
    hidden = [place for place in places if place["clipped"]]
    assert not hidden, f"{what}: {hidden} not wholly on screen"
    return places


@pytest.mark.chromium
def test_the_sends_list_and_a_send_page_fit_375_and_1280_px_with_their_buttons_on_screen(
        sends: Sends, tmp_path: Path) -> None:
    site = sends.site
    assert outbox.counts(site.engine, sends.long_id)[outbox.DEFERRED] == DEFERRED
    counters.add(site.engine, thirty_days_of_readership(site.clock().date()))
    with site.engine.begin() as conn:  # the long send counted its links' clicks
        counters.record_links(conn, sends.long_id, [LONG_LINK, "https://example.org/"])
    counters.add_clicks(site.engine, [counters.LinkCount(site.clock().date(), sends.long_id,
                                                         1, 12, 3)])
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        sign_in(page, site.url)
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(site.url + "/admin/sends")
            page.screenshot(path=str(tmp_path / f"sends-{width}.png"), full_page=True)
            no_sideways_scroll(page, width, f"the sends list at {width} px")
            buttons = all_on_screen(page, "[data-send] .controls :is(button, a.button)", 4,
                                    f"the sends list's buttons at {width} px")
            assert [b["text"] for b in buttons] == ["继续", "取消…", "暂停", "取消…"]
            slug = all_on_screen(page, f'[data-send="{sends.long_id}"] td.issue a', 1,
                                 f"the long slug at {width} px")
            assert slug[0]["height"] > 30, "a long slug wraps instead of widening the table"
            for field in ("state_label", "sent", "started"):
                all_on_screen(page, f'[data-send] [data-field="{field}"]', 2,
                              f"{field} at {width} px")

            page.goto(f"{site.url}/admin/sends/{sends.long_id}")
            page.screenshot(path=str(tmp_path / f"send-{width}.png"), full_page=True)
            no_sideways_scroll(page, width, f"a send's page at {width} px")
            all_on_screen(page, "[data-send] .controls :is(button, a.button)", 2,
                          f"a send page's buttons at {width} px")
            the_chart_reads(page, width)
            all_on_screen(page, "section.links [data-link] td.reply", 2,
                          f"a send page's links at {width} px")

            page.goto(f"{site.url}/admin/charts")
            page.screenshot(path=str(tmp_path / f"charts-{width}.png"), full_page=True)
            no_sideways_scroll(page, width, f"the charts page at {width} px")
            the_chart_reads(page, width, 0, "subscribers", SUBSCRIBER_LEGEND)
            the_chart_reads(page, width, 1, "rates", RATE_LEGEND)

            page.goto(f"{site.url}/admin/readership")
            page.screenshot(path=str(tmp_path / f"readership-{width}.png"), full_page=True)
            no_sideways_scroll(page, width, f"the readership page at {width} px")
            the_chart_reads(page, width, 0, "feeds", FEED_LEGEND)
            all_on_screen(page, '#views [data-field="views"]', 1, f"the views at {width} px")
            all_on_screen(page, "#links td.reply", 1, f"the most clicked link at {width} px")
        browser.close()


def the_chart_reads(page: Page, width: int, index: int = 0, name: str = "progress",
                    legend_texts: tuple[str, ...] = ("累计已发送", f"收件人总数：{AUDIENCE}"),
                    ) -> None:
    """The chart in the index-th box: the one drawn for this width, its legend whole, its
    x labels all different and inside it, all its text at least 10 px high."""
    chart: dict[str, Any] = page.evaluate(SHOWN_CHART, index)
    assert chart["shown"] == 1
    assert chart["id"] == f"chart-{name}" + ("-narrow" if width < 600 else "")
    box = chart["box"]
    assert box["right"] <= width
    legend = chart["legend"]
    assert tuple(t["text"] for t in legend) == legend_texts
    for text in legend:
        assert box["left"] <= text["left"] and text["right"] <= box["right"] + 0.5, text
        assert box["top"] <= text["top"] and text["bottom"] <= box["bottom"] + 0.5, text
    labels = [t["text"] for t in chart["x"]]
    assert len(labels) >= 2 and len(set(labels)) == len(labels), labels
    for text in chart["x"]:
        assert box["left"] <= text["left"] and text["right"] <= box["right"] + 0.5, text
    for text in chart["x"] + chart["y"] + legend:
        assert text["height"] >= 10, f"{text['text']!r} is {text['height']:.1f} px high"



@pytest.mark.chromium
def test_the_webhooks_page_fits_375_and_1280_px_with_its_urls_and_replay_on_screen(
        seed_config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SECRET_ENV, "a-secret")
    with webhooks_console(seed_config) as (site, _), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        sign_in(page, site.url)
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 900})
            page.goto(site.url + "/admin/webhooks")
            page.screenshot(path=str(tmp_path / f"webhooks-{width}.png"), full_page=True)
            no_sideways_scroll(page, width, f"the webhooks page at {width} px")
            urls = all_on_screen(page, ".endpoint h2.url", 2, f"the endpoints at {width} px")
            assert urls[1]["text"] == FAR
            for field in ("delivered", "pending", "failed", "oldest", "last_failure"):
                all_on_screen(page, f'.endpoint [data-field="{field}"]', 2,
                              f"{field} at {width} px")
            all_on_screen(page, "[data-hook-delivery] td:first-child", READERS,
                          f"the failures' ids at {width} px")
            all_on_screen(page, "form.replay :is(input:not([type=hidden]), select, button)",
                          3, f"the replay form at {width} px")
        browser.close()
