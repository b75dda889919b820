"""Switching a step off and on: cancelling a step's send ends that wave's rows only, the
step keeps enrolling; turning it off is explicit (a draft, `automations disable`) and shown
by `automations status`, `automations list` and the console; a step switched back on counts
its catch-up window from then, as a new step does."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy.engine import Engine

from publisher.clock import utc_now
from publisher.config import Config
from publisher.sending import enrolment
from publisher.sending.daemon import Daemon
from publisher.sending.enrolment import run_automations
from publisher.sending.send_issue import ready, start
from tests.admin.helpers import console_served, log_in
from tests.automations.helpers import (
    BASE,
    LATEST,
    cli,
    confirm_at,
    received,
    site_file,
    step_text,
    steps_folder,
    welcome_and_day_3,
    with_steps,
)
from tests.sending.faulty_smtp import FaultySMTP
from tests.sending.helpers import SECRETS, database, smtp_site

WELCOME, DAY3, LATEST_SLUG = "automation:welcome", "automation:day-3", "2025-02-latest"


def status_row(config_file: Path, slug: str) -> list[str]:
    output = cli(config_file, "automations", "status").output
    return next(line.split() for line in output.splitlines() if line.startswith(slug + " "))


def test_cancelling_a_steps_send_ends_that_wave_and_the_step_keeps_welcoming_new_readers(
    tmp_path: Path, database_url: str
) -> None:
    steps = welcome_and_day_3(tmp_path / "automations")
    with FaultySMTP(lambda r, a: "ok") as server:
        config_file, config = site_file(tmp_path, server.port, database_url, steps)
        engine = database(config)
        start(engine, config, ready(config, LATEST), utc_now() - timedelta(days=2))
        wave = confirm_at(engine, 2, utc_now() - timedelta(hours=2))
        run_automations(engine, config, utc_now() - timedelta(hours=2))
        cancelled = cli(config_file, "cancel", WELCOME, "--yes")
        assert cancelled.exit_code == 0, cancelled.output
        assert "2 cancelled (final)" in cancelled.output
        assert "`publisher automations disable welcome` switches it off" in cancelled.output
        (later,) = confirm_at(engine, 1, utc_now() - timedelta(minutes=1), start=10)
        daemon = Daemon(config, SECRETS, engine, utc_now)
        for _ in range(3):
            daemon.tick()
        assert received(engine) == Counter({(WELCOME, later): 1, (LATEST_SLUG, later): 1})
        assert status_row(config_file, WELCOME)[2:] == ["on", "done", "1", "0", "0", "0"]
        switched = cli(config_file, "automations", "disable", "welcome")
        assert switched.exit_code == 0, switched.output
        (unwelcomed,) = confirm_at(engine, 1, utc_now() - timedelta(minutes=1), start=20)
        for _ in range(2):
            daemon.tick()
        assert not any(r == unwelcomed for _slug, r in received(engine))
        assert status_row(config_file, WELCOME)[2:4] == ["off", "(disabled)"]
        listed = cli(config_file, "automations", "list").output.splitlines()
        assert next(line for line in listed if line.startswith("welcome ")).split()[3] == (
            "disabled,latest-issue")
        with console_served(config) as site, site.client() as client:
            log_in(client)
            page = client.get("/admin/sends").text
        assert "Step off: disabled" in page or "步骤已关闭：已停用" in page
        assert cli(config_file, "automations", "enable", "welcome").exit_code == 0
        for _ in range(3):
            daemon.tick()
    assert {r for slug, r in received(engine) if slug == WELCOME} == {later, unwelcomed}
    assert not any(r in wave for _slug, r in received(engine)), "that wave stays cancelled"
    assert server.delivered == Counter({later: 2, unwelcomed: 2})


def draft(steps: Path, on: bool, engine: Engine, config: Config) -> None:
    extra = "" if on else "draft: true\n"
    (steps / "day-3.md").write_text(step_text("Day three", "3d", extra=extra), encoding="utf-8")


def removed(steps: Path, on: bool, engine: Engine, config: Config) -> None:
    if on:
        steps_folder(steps, ("day-3", "Day three", "3d"))
    else:
        (steps / "day-3.md").unlink()


def disabled(steps: Path, on: bool, engine: Engine, config: Config) -> None:
    enrolment.switch(engine, config, "day-3", on, BASE)


@pytest.mark.parametrize("switch", [draft, removed, disabled])
def test_a_step_switched_back_on_reaches_only_readers_inside_its_window_from_then(
    seed_config: Config, tmp_path: Path, switch: Callable[[Path, bool, Engine, Config], None]
) -> None:
    steps = steps_folder(tmp_path / "automations", ("welcome", "Welcome", "0"),
                         ("day-3", "Day three", "3d"))
    clock = [BASE - timedelta(days=10)]
    with FaultySMTP(lambda r, a: "ok") as server:
        config = with_steps(smtp_site(seed_config, server.port), steps, catch_up_hours=96,
                            issues=LATEST.parent)
        engine = database(config)
        daemon = Daemon(config, SECRETS, engine, lambda: clock[0])
        (early,) = confirm_at(engine, 1, clock[0] - timedelta(days=3))
        daemon.tick()
        daemon.tick()  # day-3 is on, and goes to the early reader after their welcome
        assert received(engine)[(DAY3, early)] == 1
        switch(steps, False, engine, config)
        readers = {}
        for day in (0, 10, 20, 25, 27, 29):
            clock[0] = BASE + timedelta(days=day)
            (readers[day],) = confirm_at(engine, 1, clock[0], start=100 + day)
            daemon.tick()
        clock[0] = BASE + timedelta(days=30)
        switch(steps, True, engine, config)
        for day in (30, 31, 32, 33):
            clock[0] = BASE + timedelta(days=day, minutes=1)
            daemon.tick()
    got = received(engine)
    assert {r for slug, r in got if slug == "automation:welcome"} == {early, *readers.values()}
    # on again at day 30: due at most 96 hours before that (day 26 and later), or later
    assert {r for slug, r in got if slug == DAY3} == {early, readers[25], readers[27],
                                                      readers[29]}
    assert max(got.values()) == 1
