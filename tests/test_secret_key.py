"""A command that cannot work without PUBLISHER_SECRET_KEY refuses to start, in one line that
names the variable and the command that makes one; `publisher secret-key` makes one."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from publisher.config import load_secrets
from tests.cli import run_publisher
from tests.sending.helpers import write_config_file
from tests.servers import free_port

NO_KEY = {"PATH": "/usr/bin:/bin"}


def _publisher(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run_publisher(config, *args, env=NO_KEY, timeout=60)


@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["run", "--once"],
                                     ["send", "2024-06-first-half"]])
def test_a_command_without_the_secret_key_refuses_in_one_line_that_says_how_to_make_one(
        tmp_path: Path, command: list[str]) -> None:
    config = write_config_file(tmp_path, free_port(), f"sqlite:///{tmp_path / 'p.db'}")
    refused = _publisher(config, *command)
    assert refused.returncode == 1
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1, refused.stderr
    assert "PUBLISHER_SECRET_KEY is not set" in lines[0]
    assert "publisher secret-key" in lines[0]
    assert "Traceback" not in refused.stderr and "Uvicorn running" not in refused.stderr


def test_secret_key_prints_a_fresh_key_that_the_commands_accept(tmp_path: Path) -> None:
    config = write_config_file(tmp_path, free_port(), f"sqlite:///{tmp_path / 'p.db'}")
    first, second = (_publisher(config, "secret-key") for _ in range(2))
    assert first.returncode == 0 and second.returncode == 0
    key = first.stdout.strip()
    assert key != second.stdout.strip() and len(key) >= 40
    assert load_secrets({"PUBLISHER_SECRET_KEY": key}).signing_key == key
