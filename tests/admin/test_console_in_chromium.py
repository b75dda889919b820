"""An operator at the console in headless Chromium, watching a real send: 2,000 subscribers,
the real `publisher run` daemon in a subprocess, an SMTP server on loopback that refuses one
recipient with a 550. The site is the seed's, in Chinese."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from publisher.config import load_config
from publisher.db import open_database
from publisher.dev.screenshot import CHROMIUM, CHROMIUM_ARGS
from publisher.sending import outbox, reports
from publisher.sending.send_issue import ready, start
from publisher.web.admin.overview import CHART_DAYS
from tests.admin.helpers import PASSWORD, USERNAME, Served, console_served
from tests.cli import start_publisher
from tests.conftest import REPO, SEED_ISSUE
from tests.sending.faulty_smtp import FaultySMTP
from tests.sending.helpers import bulk_confirmed, write_config_file

AUDIENCE = 2000
REFUSED = "u7@example.net"
# 100 messages a second: the send lasts about 20 s, long enough to watch and to pause.
SETTINGS = "[sending]\ncatch_up_hours = 100000\nbatch_size = 20\n"


def until(condition: Callable[[], bool], seconds: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@contextmanager
def daemon(config_file: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """The real `publisher run`, ticking every second, stopped as systemd would (SIGTERM)."""
    with log.open("wb") as out:
        process = start_publisher(config_file, "run", "--interval", "1", stdout=out, stderr=out,
                                  cwd=REPO)
        try:
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)


def sent_figure(page: Page, row: str = "[data-send]") -> int:
    return int(page.text_content(f'{row} [data-count="sent"]') or "-1")


def sign_in(page: Page, url: str) -> None:
    page.goto(url + "/admin")
    assert "/admin/login?next=%2Fadmin" in page.url
    page.fill("#login-username", USERNAME)
    page.fill("#login-password", PASSWORD)
    with page.expect_navigation():
        page.click("form.login button[type=submit]")
    assert page.url == url + "/admin"


def second_issue(folder: Path) -> Path:
    """Another issue, never due, for a send the operator cancels."""
    text = SEED_ISSUE.read_text(encoding="utf-8")
    text = text.replace("2024-06-16:2024-06-first-half", "2024-07-01:2024-07-second")
    text = text.replace("send_at: 2024-06-16T09:00:00+08:00\n", "")
    folder.mkdir()
    path = folder / "2024-07-second.md"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.chromium
def test_an_operator_watches_pauses_resumes_cancels_and_inspects_sends_in_the_browser(
        tmp_path: Path, report_figure: Callable[[str], None]) -> None:
    with FaultySMTP(lambda recipient, _: "550" if recipient == REFUSED else "ok") as smtp:
        config_file = write_config_file(tmp_path, smtp.port, f"sqlite:///{tmp_path / 'p.db'}",
                                        extra=SETTINGS, rate_per_second=100)
        config = load_config(tmp_path, config_file)
        bulk_confirmed(open_database(config.database_url), AUDIENCE)
        with console_served(config, wall_clock=True) as site, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            sign_in(page, site.url)
            assert page.text_content("h1") == "发送"
            with daemon(config_file, tmp_path / "daemon.log"):
                send_id = watch_pause_and_resume(page, site, smtp, report_figure)
            inspect_the_failure(page, site, send_id)
            cancel_a_second_send(page, site, second_issue(tmp_path / "more"))
            count_chart_points(page, site, send_id)
            no_page_scrolls_sideways_at_375_px(page, site, send_id, tmp_path)
            browser.close()


def watch_pause_and_resume(page: Page, site: Served, smtp: FaultySMTP,
                           report_figure: Callable[[str], None]) -> int:
    row = page.locator("tr[data-send]")
    row.wait_for(timeout=60_000)  # the page reloads itself when a new send appears
    send_id = int(row.get_attribute("data-send") or 0)
    page.wait_for_function("""() => {
        const n = +document.querySelector('[data-send] [data-count="sent"]').textContent;
        return n > 0 && n < 2000; }""", timeout=60_000)
    page.evaluate("window.stillTheSamePage = true")
    middle = sent_figure(page)
    page.wait_for_function(f"""() => +document.querySelector(
        '[data-send] [data-count="sent"]').textContent > {middle}""", timeout=30_000)
    assert page.evaluate("window.stillTheSamePage") is True  # counted up without a reload
    report_figure(f"console: the sends page read {middle} sent mid-send, then counted on")

    with page.expect_navigation():
        page.click('[data-send] button[data-action="pause"]')
    assert page.text_content('[data-send] [data-field="state_label"]') == "已暂停"
    until(lambda: outbox.counts(site.engine, send_id)["sending"] == 0, what="in-flight rows")
    arrived = sum(smtp.delivered.values())
    time.sleep(3)
    assert sum(smtp.delivered.values()) == arrived < AUDIENCE - 1
    report_figure(f"console: paused at {arrived} delivered; none arrived in 3 s paused")
    settled = outbox.counts(site.engine, send_id)["sent"]
    page.wait_for_function(f"""() => +document.querySelector(
        '[data-send] [data-count="sent"]').textContent === {settled}""", timeout=15_000)

    with page.expect_navigation():
        page.click('[data-send] button[data-action="resume"]')
    assert page.text_content('[data-send] [data-field="state_label"]') == "发送中"
    page.wait_for_function("""() => document.querySelector(
        '[data-send] [data-field="sent"]')?.textContent === '1999'""", timeout=120_000)
    assert sent_figure(page) == AUDIENCE - 1
    assert page.text_content('[data-send] [data-count="failed"]') == "1"
    assert len(smtp.delivered) == AUDIENCE - 1 and set(smtp.delivered.values()) == {1}
    return send_id


def inspect_the_failure(page: Page, site: Served, send_id: int) -> None:
    with page.expect_navigation():
        page.click(f'tr[data-send="{send_id}"] a[href="/admin/sends/{send_id}"]')
    failed = page.locator('tr[data-status="failed"]')
    assert failed.count() == 1
    assert failed.locator("td.reply").text_content() == "550 5.1.1 No such user"
    with page.expect_navigation():
        failed.locator("a").click()
    assert page.text_content("h1") == REFUSED
    assert page.locator('tr[data-event="bounced"]').count() == 1
    assert "550 5.1.1 No such user" in (page.text_content("tr[data-delivery] td.reply") or "")


def cancel_a_second_send(page: Page, site: Served, issue: Path) -> None:
    send_id = start(site.engine, site.config, ready(site.config, issue), site.console.clock())
    page.goto(site.url + "/admin")
    with page.expect_navigation():
        page.click(f'tr[data-send="{send_id}"] a[data-action="cancel"]')
    assert page.url.endswith(f"/admin/sends/{send_id}/cancel")
    with page.expect_navigation():
        page.click("form.confirm button.danger")
    assert page.text_content('[data-send] [data-field="state_label"]') == "已取消"
    page.uncheck('input[name="state"][value="failed"]')
    page.uncheck('input[name="state"][value="deferred"]')
    page.check('input[name="state"][value="cancelled"]')
    with page.expect_navigation():
        page.click("form.filter button[type=submit]")
    assert page.locator('tr[data-status="cancelled"]').count() == 50  # one page
    assert page.locator('a[rel="next"]').count() == 1
    assert page.text_content('[data-count="cancelled"]') == str(AUDIENCE - 1)  # u7 bounced


def count_chart_points(page: Page, site: Served, send_id: int) -> None:
    page.goto(f"{site.url}/admin/sends/{send_id}")
    samples = len(reports.progress_series(site.engine, send_id))
    assert samples > 1
    assert page.locator("#chart-progress g.series-sent circle.dot").count() == samples
    page.goto(site.url + "/admin/charts")
    assert page.locator("#chart-subscribers g.series-confirmed circle.dot").count() == CHART_DAYS
    assert page.locator("#chart-rates g.series-bounce-rate circle.dot").count() == 2
    assert page.locator("#chart-rates g.series-complaint-rate circle.dot").count() == 2


def no_page_scrolls_sideways_at_375_px(page: Page, site: Served, send_id: int,
                                      folder: Path) -> None:
    page.set_viewport_size({"width": 375, "height": 800})
    for name, path in (("sends", "/admin"), ("send", f"/admin/sends/{send_id}"),
                       ("subscribers", "/admin/subscribers"), ("person", "/admin/subscribers/8"),
                       ("charts", "/admin/charts"), ("cancel", f"/admin/sends/{send_id}/cancel")):
        page.goto(site.url + path)
        page.screenshot(path=str(folder / f"console-{name}-375.png"), full_page=True)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{path} is {width} px wide at 375"
    page.emulate_media(color_scheme="dark")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(19, 19, 22)"
    page.emulate_media(color_scheme="light")
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(255, 255, 255)"
