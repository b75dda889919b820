"""A reader who subscribes and confirms over real HTTP gets the welcome once (aiosmtpd on
loopback), the day-3 step once the injected clock has passed three days, and nothing more."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from publisher.clock import utc_now
from publisher.config import Config
from publisher.sending.daemon import Daemon
from tests.automations.helpers import with_steps
from tests.sending.helpers import SECRETS
from tests.subscribers.test_web_flows import confirm_link, served

WELCOME, DAY3 = "欢迎订阅 LLM 论文双周摘要", "如何读好一篇 LLM 论文"


def test_a_reader_confirming_on_the_web_gets_the_welcome_once_and_day_3_after_three_days(
    seed_config: Config, tmp_path: Path
) -> None:
    with served(seed_config, tmp_path) as site:
        assert site.post("/subscribe", {"email": "reader@example.org"}).status_code == 303
        (mail,) = site.mails()
        link = confirm_link(mail)
        assert site.post(link.removeprefix(site.url), {}).status_code in (200, 303)
        assert site.status("reader@example.org") == "confirmed"
        config = with_steps(site.config, tmp_path / "automations")
        started = utc_now()
        clock = [started]
        daemon = Daemon(config, SECRETS, site.engine, lambda: clock[0])
        for _ in range(3):
            daemon.tick()
        subjects = [str(m["Subject"]) for m in site.mails()]
        assert subjects.count(WELCOME) == 1 and DAY3 not in subjects
        clock[0] = started + timedelta(days=3, minutes=1)
        for _ in range(3):
            daemon.tick()
        subjects = [str(m["Subject"]) for m in site.mails()]
    assert subjects.count(WELCOME) == 1 and subjects.count(DAY3) == 1
    assert len(subjects) == 3  # the confirmation, the welcome and day 3 (no issue was mailed)
