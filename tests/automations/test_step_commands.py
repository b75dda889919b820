"""The commands on a step's send, through the real CLI: every hint printed after pause and
resume is a command that works, `send`, `retry`, `report` and `status` take
`automation:<step>`, and `check` and `automations list` warn when a step file repeats,
under another name, a step already sent."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

from publisher.clock import utc_now
from publisher.sending.daemon import Daemon
from publisher.sending.enrolment import run_automations
from tests.automations.helpers import (
    cli,
    confirm_at,
    received,
    site_file,
    step_text,
    steps_folder,
)
from tests.sending.faulty_smtp import FaultySMTP
from tests.sending.helpers import SECRETS, database

WELCOME = "automation:welcome"


def hint(output: str) -> list[str]:
    """The first command quoted `publisher …` in the output, as arguments."""
    quoted = output.split("`publisher ", 1)[1].split("`", 1)[0]
    return quoted.split()


def test_pause_resume_send_and_retry_work_on_a_step_and_every_hint_is_a_working_command(
    tmp_path: Path, database_url: str
) -> None:
    steps = steps_folder(tmp_path / "automations", ("welcome", "Welcome", "0"),
                         ("day-3", "Day three", "3d"))
    refused = "r1@example.net"
    with FaultySMTP(lambda r, a: "550" if r == refused and a == 1 else "ok") as server:
        config_file, config = site_file(tmp_path, server.port, database_url, steps,
                                        extra="[bounces]\nhard_bounce_threshold = 3\n")
        engine = database(config)
        readers = confirm_at(engine, 3, utc_now() - timedelta(minutes=5))
        run_automations(engine, config, utc_now())
        paused = cli(config_file, "pause", WELCOME)
        assert paused.exit_code == 0, paused.output
        assert hint(paused.output) == ["resume", WELCOME]
        resumed = cli(config_file, *hint(paused.output))
        assert resumed.exit_code == 0, resumed.output
        assert hint(resumed.output) == ["run"]
        command = resumed.output.split("or `publisher ", 1)[1].split("`", 1)[0].split()
        assert command == ["send", WELCOME]
        sent = cli(config_file, *command, "--yes")
        assert sent.exit_code == 0, sent.output
        assert "sent=2" in sent.output and "failed=1" in sent.output
        retried = cli(config_file, "retry", WELCOME)
        assert retried.exit_code == 0, retried.output
        assert "1 failed deliveries queued again" in retried.output
        report = cli(config_file, "report", WELCOME)
        assert report.exit_code == 0 and WELCOME in report.output, report.output
        status = cli(config_file, "status", WELCOME)
        assert status.exit_code == 0 and WELCOME in status.output, status.output
        steps_folder(steps, ("day-7", "Day seven", "7d"))  # no round has seen it yet
        not_yet = cli(config_file, "send", "automation:day-7", "--yes")
        assert not_yet.exit_code != 0 and "`publisher run --once`" in not_yet.output
        assert "no such step" in cli(config_file, "retry", "automation:nope").output
    assert received(engine) == Counter({(WELCOME, r): 1 for r in readers})
    assert server.delivered == Counter({r: 1 for r in readers})


def test_check_and_list_warn_when_a_renamed_step_file_would_send_a_step_again(
    tmp_path: Path, database_url: str
) -> None:
    steps = steps_folder(tmp_path / "automations", ("welcome", "Welcome", "0"))
    with FaultySMTP(lambda r, a: "ok") as server:
        config_file, config = site_file(tmp_path, server.port, database_url, steps)
        engine = database(config)
        confirm_at(engine, 2, utc_now() - timedelta(minutes=5))
        Daemon(config, SECRETS, engine, utc_now).tick()
        assert sum(server.delivered.values()) == 2
    quiet = cli(config_file, "check")
    assert quiet.exit_code == 0 and "warning" not in quiet.output, quiet.output
    (steps / "welcome.md").rename(steps / "hello.md")
    (steps / "day-3.md").write_text(step_text("Day three", "3d", "Three days in."),
                                    encoding="utf-8")  # new, but says something else
    for command in (["check"], ["automations", "list"]):
        result = cli(config_file, *command)
        assert result.exit_code == 0, result.output
        warnings = [line for line in result.output.splitlines() if "warning" in line]
        assert len(warnings) == 1, result.output
        assert f"{steps / 'hello.md'}: same text as {WELCOME}, already sent to 2 reader(s)" in (
            warnings[0])
        assert "name the file welcome.md again" in warnings[0]
