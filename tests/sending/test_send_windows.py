"""Send windows: an issue with `send_local` reaches each reader at that hour in their zone.

The daemon runs with an injected clock against a real aiosmtpd server on loopback; a
reader's copy must be there once their local time has passed, and never before.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.engine import Engine

from publisher.clock import utc_now
from publisher.config import Config
from publisher.content.issues import parse_issue_text
from publisher.db import open_database
from publisher.dev.catcher import Catcher
from publisher.errors import IssueFileError
from publisher.sending import outbox
from publisher.sending.daemon import Daemon
from publisher.sending.outbox import first_local_time
from publisher.subscribers import store
from publisher.subscribers.store import Consent
from tests.cli import run_publisher_here
from tests.conftest import SEED_ISSUE
from tests.sending.helpers import SECRETS, smtp_site, write_config_file
from tests.subscribers.helpers import url_of

READERS = {"shanghai@example.net": "Asia/Shanghai", "berlin@example.net": "Europe/Berlin",
           "newyork@example.net": "America/New_York", "nozone@example.net": None}


def issue_with_window(folder: Path, send_at: datetime, send_local: str = "09:00") -> Path:
    """The seed issue, to be sent at `send_at` and delivered at `send_local` local time."""
    text = SEED_ISSUE.read_text(encoding="utf-8")
    text = text.replace("send_at: 2024-06-16T09:00:00+08:00",
                        f'send_at: {send_at.isoformat()}\nsend_local: "{send_local}"')
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SEED_ISSUE.name
    path.write_text(text, encoding="utf-8")
    return path


def add_readers(engine: Engine, readers: dict[str, str | None], at: datetime) -> None:
    with engine.begin() as conn:
        for address, zone in readers.items():
            store.add(conn, address, "", store.CONFIRMED, Consent("import", at), at,
                      timezone=zone)


class Windowed:
    """The daemon of a site whose only issue has a send window, with a settable clock."""

    def __init__(self, config: Config, catcher: Catcher, now: datetime) -> None:
        self.catcher = catcher
        self.now = now
        self.engine = open_database(config.database_url)
        self.daemon = Daemon(config, SECRETS, self.engine, lambda: self.now)

    def tick_at(self, now: datetime) -> set[str]:
        """Run one daemon tick at `now`; the addresses that have received the issue."""
        self.now = now
        self.daemon.tick()
        received = set()
        for raw in self.catcher.messages():
            message = message_from_bytes(raw, policy=policy.default)
            received.add(str(message["To"]).lower())
        return received


@pytest.fixture
def windowed_site(seed_config: Config, tmp_path: Path) -> Iterator[tuple[Config, Catcher]]:
    with Catcher(tmp_path / "Maildir") as catcher:
        config = smtp_site(seed_config, catcher.controller.port)
        paths = config.settings.paths.model_copy(update={"issues": str(tmp_path / "issues")})
        yield replace(config, settings=config.settings.model_copy(update={"paths": paths})), catcher


def test_readers_in_three_zones_get_the_issue_at_nine_local_time_and_never_before(
    windowed_site: tuple[Config, Catcher], tmp_path: Path
) -> None:
    config, catcher = windowed_site
    start = datetime(2024, 6, 16, 0, 30, tzinfo=UTC)  # 08:30 in Shanghai, the site's zone
    issue_with_window(tmp_path / "issues", start)
    site = Windowed(config, catcher, start)
    add_readers(site.engine, READERS, start)
    # 09:00 is 01:00 UTC in Shanghai (and for the reader without a zone: the site's),
    # 07:00 UTC in Berlin (CEST), 13:00 UTC in New York (EDT)
    assert site.tick_at(start) == set()
    assert outbox.send_slugs(site.engine) == {"2024-06-first-half"}
    assert site.tick_at(datetime(2024, 6, 16, 0, 59, 59, tzinfo=UTC)) == set()
    at_one = site.tick_at(datetime(2024, 6, 16, 1, 0, tzinfo=UTC))
    assert at_one == {"shanghai@example.net", "nozone@example.net"}
    assert site.tick_at(datetime(2024, 6, 16, 6, 59, tzinfo=UTC)) == at_one
    at_seven = site.tick_at(datetime(2024, 6, 16, 7, 0, 30, tzinfo=UTC))
    assert at_seven == at_one | {"berlin@example.net"}
    assert site.tick_at(datetime(2024, 6, 16, 12, 59, tzinfo=UTC)) == at_seven
    (send_id,) = [i for i, _ in outbox.active_sends(site.engine)]
    assert site.tick_at(datetime(2024, 6, 16, 13, 0, tzinfo=UTC)) == set(READERS)
    assert len(catcher.messages()) == len(READERS)  # each exactly once
    assert outbox.is_finished(site.engine, send_id)
    assert outbox.active_sends(site.engine) == []  # done only once every row is settled


def test_the_spring_forward_weekend_moves_a_new_york_reader_to_the_new_offset(
    windowed_site: tuple[Config, Catcher], tmp_path: Path
) -> None:
    config, catcher = windowed_site
    start = datetime(2024, 3, 9, 20, 0, tzinfo=UTC)  # Saturday; clocks go forward Sunday 02:00
    issue_with_window(tmp_path / "issues", start)
    site = Windowed(config, catcher, start)
    add_readers(site.engine, {"newyork@example.net": "America/New_York",
                              "berlin@example.net": "Europe/Berlin"}, start)
    assert site.tick_at(start) == set()
    assert site.tick_at(datetime(2024, 3, 10, 7, 59, tzinfo=UTC)) == set()
    assert site.tick_at(datetime(2024, 3, 10, 8, 0, tzinfo=UTC)) == {"berlin@example.net"}
    # Sunday 09:00 in New York is EDT (UTC-4): 13:00 UTC, not the 14:00 of the day before
    assert site.tick_at(datetime(2024, 3, 10, 12, 59, tzinfo=UTC)) == {"berlin@example.net"}
    assert site.tick_at(datetime(2024, 3, 10, 13, 0, tzinfo=UTC)) == {
        "berlin@example.net", "newyork@example.net"}


def test_a_local_time_skipped_or_repeated_by_dst_is_delivered_once_on_the_right_side() -> None:
    new_york = ZoneInfo("America/New_York")
    night_before = datetime(2024, 3, 10, 5, 0, tzinfo=UTC)  # 00:00 EST
    skipped = first_local_time(time(2, 30), new_york, night_before)
    assert skipped == datetime(2024, 3, 10, 7, 30, tzinfo=UTC)  # 03:30 EDT: moved forward
    repeated = first_local_time(time(1, 30), new_york, datetime(2024, 11, 3, 4, 0, tzinfo=UTC))
    assert repeated == datetime(2024, 11, 3, 5, 30, tzinfo=UTC)  # the first 01:30 (EDT)
    late = first_local_time(time(9, 0), new_york, datetime(2024, 6, 16, 13, 0, 1, tzinfo=UTC))
    assert late == datetime(2024, 6, 17, 13, 0, tzinfo=UTC)  # just missed: the next day


@pytest.mark.parametrize(("zone", "send_local", "start", "arrival"), [
    # New York falls back at 02:00 EDT on 2026-11-01: 01:30 is 05:30Z (EDT), then 06:30Z (EST)
    ("America/New_York", "01:30", datetime(2026, 11, 1, 5, 45, tzinfo=UTC),
     datetime(2026, 11, 1, 6, 30, tzinfo=UTC)),
    # Berlin falls back at 03:00 CEST on 2026-10-25: 02:30 is 00:30Z (CEST), then 01:30Z (CET)
    ("Europe/Berlin", "02:30", datetime(2026, 10, 25, 0, 45, tzinfo=UTC),
     datetime(2026, 10, 25, 1, 30, tzinfo=UTC)),
])
def test_a_send_started_between_the_two_occurrences_of_a_repeated_hour_arrives_at_the_second(
    windowed_site: tuple[Config, Catcher], tmp_path: Path, zone: str, send_local: str,
    start: datetime, arrival: datetime
) -> None:
    config, catcher = windowed_site
    issue_with_window(tmp_path / "issues", start, send_local)
    site = Windowed(config, catcher, start)
    add_readers(site.engine, {"reader@example.net": zone}, start)
    assert site.tick_at(start) == set()
    assert site.tick_at(arrival - timedelta(seconds=1)) == set()
    assert site.tick_at(arrival) == {"reader@example.net"}  # that night, not a day later
    local = time.fromisoformat(send_local)
    assert first_local_time(local, ZoneInfo(zone), start) == arrival
    assert first_local_time(local, ZoneInfo(zone), arrival + timedelta(seconds=1)) == (
        arrival + timedelta(days=1))  # after the second occurrence: the next day's


def test_a_send_local_that_is_not_a_24_hour_time_is_refused_with_its_line() -> None:
    text = SEED_ISSUE.read_text(encoding="utf-8")
    for written, says in (('"9am"', "'9am' is not a 24-hour time"),
                          ('"24:00"', "'24:00' is not a 24-hour time"),
                          ("10:30", "put the time in quotes")):
        broken = text.replace("send_at:", f"send_local: {written}\nsend_at:", 1)
        with pytest.raises(IssueFileError) as raised:
            parse_issue_text(broken, SEED_ISSUE)
        (problem,) = raised.value.problems
        assert (problem.field, problem.line) == ("send_local", 9)
        assert says in problem.message
    ok = parse_issue_text(text.replace("send_at:", 'send_local: "07:05"\nsend_at:', 1),
                          SEED_ISSUE)
    assert ok.meta.send_local == time(7, 5)


def test_send_in_the_foreground_says_how_many_wait_for_their_local_time(
    tmp_path: Path,
) -> None:
    later = (utc_now() + timedelta(hours=6)).strftime("%H:%M")  # hours away in both zones
    issue_with_window(tmp_path / "issues", datetime(2024, 6, 16, 1, 0, tzinfo=UTC), later)
    with Catcher(tmp_path / "Maildir") as catcher:
        config_file = write_config_file(tmp_path, catcher.controller.port,
                                        url_of(tmp_path / "publisher.toml"))
        text = config_file.read_text(encoding="utf-8")
        assert f'issues = "{SEED_ISSUE.parent}"' in text
        config_file.write_text(text.replace(f'issues = "{SEED_ISSUE.parent}"',
                                            f'issues = "{tmp_path / "issues"}"'),
                               encoding="utf-8")
        engine = open_database(url_of(config_file))
        add_readers(engine, {"utc@example.net": "UTC", "berlin@example.net": "Europe/Berlin"},
                    utc_now())
        sent = run_publisher_here(config_file, "send", "2024-06-first-half", "--yes")
    assert sent.returncode == 0, sent.stderr
    assert catcher.messages() == []
    assert "2 wait for their local send time" in sent.stdout, sent.stdout
    assert "`publisher run` delivers them" in sent.stdout
