"""The one way tests run the `publisher` command: in a subprocess run to its end
(`run_publisher`), in a subprocess the test steers (`start_publisher`), or in this process
through click's CliRunner (`invoke_publisher`, or `run_publisher_here`, which answers as
`run_publisher` does); each with the tests' secret key unless the test gives another
environment.

A test needs a real process only when the process is what it is about (signals, a crash,
two at once, the installed command); otherwise the same code runs here, a second or so of
interpreter start and imports cheaper per call."""

from __future__ import annotations

import os
import subprocess
import sys
import traceback
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Literal, overload

from click.testing import CliRunner, Result

from publisher.cli import main
from tests.sending.helpers import SECRETS

CLI_ENV = {**os.environ, "PUBLISHER_SECRET_KEY": SECRETS.secret_keys[0]}
Output = int | IO[bytes] | IO[str] | None


def cli_command(config: Path | None, *args: str) -> list[str]:
    """The argv of the real `publisher [--config CONFIG] ARGS…`, for a subprocess."""
    options = ["--config", str(config)] if config is not None else []
    return [sys.executable, "-m", "publisher.cli", *options, *args]


def _environment(env: Mapping[str, str] | None) -> dict[str, str]:
    return dict(CLI_ENV if env is None else env)


def run_publisher(config: Path | None, *args: str, env: Mapping[str, str] | None = None,
                  stdin: str | None = None, cwd: Path | None = None,
                  timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`publisher [--config CONFIG] ARGS…` in a subprocess, waited for; output as UTF-8 text."""
    return subprocess.run(cli_command(config, *args), env=_environment(env), input=stdin,
                          cwd=cwd, capture_output=True, text=True, encoding="utf-8",
                          timeout=timeout)


@overload
def start_publisher(config: Path | None, *args: str, text: Literal[False] = False,
                    env: Mapping[str, str] | None = None, stdout: Output = subprocess.PIPE,
                    stderr: Output = subprocess.PIPE,
                    cwd: Path | None = None) -> subprocess.Popen[bytes]: ...


@overload
def start_publisher(config: Path | None, *args: str, text: Literal[True],
                    env: Mapping[str, str] | None = None, stdout: Output = subprocess.PIPE,
                    stderr: Output = subprocess.PIPE,
                    cwd: Path | None = None) -> subprocess.Popen[str]: ...


def start_publisher(config: Path | None, *args: str, text: bool = False,
                    env: Mapping[str, str] | None = None, stdout: Output = subprocess.PIPE,
                    stderr: Output = subprocess.PIPE, cwd: Path | None = None
                    ) -> subprocess.Popen[bytes] | subprocess.Popen[str]:
    """`publisher [--config CONFIG] ARGS…` started in a subprocess that the test steers
    (signals, waits); stdout and stderr piped unless the test says otherwise."""
    return subprocess.Popen(cli_command(config, *args), env=_environment(env),
                            stdout=stdout, stderr=stderr, text=text, cwd=cwd)


def invoke_publisher(*args: str, config: Path | None = None,
                     env: Mapping[str, str] | None = None, stdin: str | None = None) -> Result:
    """`publisher [--config CONFIG] ARGS…` in this process (click's CliRunner)."""
    options = ["--config", str(config)] if config is not None else []
    return CliRunner().invoke(main, [*options, *args], env=env, input=stdin)


def run_publisher_here(config: Path | None, *args: str, env: Mapping[str, str] | None = None,
                       stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """`publisher [--config CONFIG] ARGS…` in this process, answered as `run_publisher`
    answers: an exception the command lets escape is on stderr as its traceback, with
    status 1, as the interpreter would end a real process."""
    result = invoke_publisher(*args, config=config, env=_environment(env), stdin=stdin)
    stderr, status = result.stderr, result.exit_code
    if result.exc_info is not None and not isinstance(result.exc_info[1], SystemExit):
        stderr += "".join(traceback.format_exception(*result.exc_info))
        status = 1
    return subprocess.CompletedProcess(cli_command(config, *args), status, result.stdout,
                                       stderr)
