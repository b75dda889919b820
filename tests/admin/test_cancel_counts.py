"""A cancel is told with one count: the console's question, its notice, the send's page and
the CLI all say what the outbox holds once the send has stopped, and progress counts
delivered mail only. A real `publisher send` runs in a subprocess against an SMTP server on
loopback slowed so the cancel lands mid-send; the operator cancels from the console over
HTTP, or with `publisher cancel`."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from publisher.config import load_config
from publisher.sending import outbox
from tests.admin.helpers import Served, console_served, csrf_of, log_in
from tests.cli import run_publisher_here, start_publisher
from tests.conftest import DATA
from tests.sending.faulty_smtp import FaultySMTP
from tests.sending.helpers import bulk_confirmed, wait_until, write_config_file

ISSUE = DATA / "console" / "2024-07-short.md"
SLUG = ISSUE.stem
AUDIENCE = 400
SETTINGS = "[sending]\ncatch_up_hours = 100000\nbatch_size = 25\n"


@dataclass
class Sending:
    site: Served
    config_file: Path
    smtp: FaultySMTP
    sender: subprocess.Popen[str]

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run_publisher_here(self.config_file, *args)

    def delivered(self) -> int:
        return sum(self.smtp.delivered.values())

    def finish(self) -> tuple[str, dict[str, int]]:
        """The sender's stdout once it has stopped, and the outbox's final counts."""
        stdout, stderr = self.sender.communicate(timeout=60)
        assert self.sender.returncode == 0, stderr[-2000:]
        return stdout, outbox.counts(self.site.engine, 1)


@pytest.fixture
def sending(tmp_path: Path) -> Iterator[Sending]:
    """400 subscribers, `publisher send` under way (about 10 s in all), 60 delivered."""
    with FaultySMTP(lambda recipient, attempt: "ok", delay=0.05) as smtp:
        config_file = write_config_file(tmp_path, smtp.port, f"sqlite:///{tmp_path / 'p.db'}",
                                        extra=SETTINGS, pool_size=2)
        config = load_config(tmp_path, config_file)
        with console_served(config, wall_clock=True) as site:
            bulk_confirmed(site.engine, AUDIENCE)
            sender = start_publisher(config_file, "send", str(ISSUE), "--yes", text=True)
            running = Sending(site, config_file, smtp, sender)
            try:
                wait_until(lambda: running.delivered() >= 60)
                yield running
            finally:
                if sender.poll() is None:
                    sender.kill()
                    sender.communicate()


def notice_of(html: str) -> str:
    found = re.search(r'<p class="notice" role="status">([^<]*)</p>', html)
    assert found, html[:3000]
    return found.group(1)


def figure(html: str, attribute: str) -> int:
    found = re.search(rf'{attribute}">(\d+)<', html)
    assert found, attribute
    return int(found.group(1))


def test_the_consoles_question_notice_and_page_give_the_outboxs_count(
        sending: Sending) -> None:
    site = sending.site
    with site.client() as client:
        log_in(client)
        question = client.get("/admin/sends/1/cancel").text
        asked = int(re.search(r"还有 (\d+) 封尚未投递", question).group(1))  # type: ignore[union-attr]
        done = client.post("/admin/sends/1/cancel", data={"csrf": csrf_of(client)},
                           headers={"Origin": site.url})
        told = {key: int(value[0]) for key, value in
                parse_qs(urlsplit(done.headers["location"]).query).items() if key != "notice"}
        page = client.get(done.headers["location"]).text
        stdout, final = sending.finish()
    assert 0 < final[outbox.CANCELLED] <= asked <= AUDIENCE - 60
    assert told == {"n": final[outbox.CANCELLED], "sent": final[outbox.SENT], "flight": 0}
    assert final[outbox.SENT] + final[outbox.CANCELLED] == AUDIENCE
    assert notice_of(page) == (f"已取消：{final[outbox.CANCELLED]} 封永远不会投递；"
                               f"已发出 {final[outbox.SENT]} 封。")
    assert figure(page, 'data-count="cancelled') == final[outbox.CANCELLED]
    assert figure(page, 'data-field="sent') == final[outbox.SENT]  # progress: delivered only
    assert f'value="{final[outbox.SENT]}" data-field="progress"' in page
    assert (f"{SLUG} was cancelled (final): {final[outbox.SENT]} sent, "
            f"{final[outbox.CANCELLED]} cancelled") in stdout
    assert sending.delivered() == final[outbox.SENT]


def test_publisher_cancel_prints_the_outboxs_final_count(sending: Sending) -> None:
    cancelled = sending.cli("cancel", SLUG, "--yes")
    stdout, final = sending.finish()
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout == (f"cancelled {SLUG}: {final[outbox.SENT]} sent, "
                                f"{final[outbox.CANCELLED]} cancelled (final)\n")
    assert final[outbox.SENT] + final[outbox.CANCELLED] == AUDIENCE
    assert f"{final[outbox.SENT]} sent, {final[outbox.CANCELLED]} cancelled" in stdout
    assert sending.delivered() == final[outbox.SENT]
