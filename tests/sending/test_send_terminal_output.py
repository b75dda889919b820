"""A foreground `publisher send` keeps its log lines and its progress bar apart: on a
terminal the bar is drawn and each JSON log line is printed whole above it, never written
into the bar's line; without a terminal there is no bar, and stderr is JSON lines only. The
real CLI in a subprocess, its stderr a pseudo-terminal or a pipe."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from pathlib import Path

from publisher.db import open_database
from tests.cli import CLI_ENV, cli_command
from tests.conftest import DATA
from tests.sending.faulty_smtp import FaultySMTP
from tests.sending.helpers import bulk_confirmed, write_config_file

ISSUE = DATA / "console" / "2024-07-short.md"
AUDIENCE = 200
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")
BAR = "━"  # rich's bar


def send_command(tmp_path: Path, port: int) -> list[str]:
    config = write_config_file(tmp_path, port, f"sqlite:///{tmp_path / 'p.db'}",
                               extra="[sending]\ncatch_up_hours = 100000\n", pool_size=2)
    bulk_confirmed(open_database(f"sqlite:///{tmp_path / 'p.db'}"), AUDIENCE)
    return cli_command(config, "send", str(ISSUE), "--yes")


def on_a_terminal(command: list[str]) -> tuple[str, str, int]:
    """Run with stderr on a pseudo-terminal: (what the terminal got, stdout, exit code)."""
    main, child = os.openpty()
    env = {**CLI_ENV, "TERM": "xterm-256color", "COLUMNS": "120"}
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=child,
                               stdin=subprocess.DEVNULL, text=True)
    os.close(child)
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                chunk = os.read(main, 65536)
            except OSError:  # EIO: the child's side is closed
                return
            if not chunk:
                return
            chunks.append(chunk)

    reader = threading.Thread(target=read)
    reader.start()
    stdout, _ = process.communicate(timeout=120)
    reader.join(timeout=30)
    os.close(main)
    return b"".join(chunks).decode("utf-8", "replace"), stdout, process.returncode


def test_on_a_terminal_each_log_line_is_printed_whole_above_the_bar(tmp_path: Path) -> None:
    with FaultySMTP(lambda recipient, attempt: "ok", delay=0.005) as smtp:
        terminal, stdout, code = on_a_terminal(send_command(tmp_path, smtp.port))
    assert code == 0, terminal[-3000:]
    assert f"sent={AUDIENCE}" in stdout
    plain = ANSI.sub("", terminal)
    assert BAR in plain and f"{AUDIENCE}/{AUDIENCE} sent" in plain
    lines = [line for line in re.split(r"[\r\n]+", plain) if '{"at"' in line]
    assert lines, plain[-3000:]
    for line in lines:
        assert line.startswith('{"at"'), f"a log line shares its line with the bar: {line!r}"
        assert json.loads(line)["event"]


def test_without_a_terminal_stderr_holds_json_lines_and_no_bar(tmp_path: Path) -> None:
    with FaultySMTP(lambda recipient, attempt: "ok", delay=0.005) as smtp:
        done = subprocess.run(send_command(tmp_path, smtp.port), env=CLI_ENV,
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"sent={AUDIENCE}" in done.stdout
    assert BAR not in done.stderr and "sending" not in done.stderr.replace('"sending"', "")
    lines = done.stderr.splitlines()
    assert lines and all(json.loads(line)["event"] for line in lines), done.stderr[-3000:]
