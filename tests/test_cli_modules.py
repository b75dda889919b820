"""The CLI's verb table names every verb each publisher/commands module exports, and no
other: a verb missing from the table could not be run, one in the table but in no module
would fail only when typed."""

from __future__ import annotations

import importlib
import subprocess
import sys

from publisher.cli import COMMAND_MODULES, main
from tests.conftest import REPO


def exported_verbs() -> dict[str, str]:
    verbs: dict[str, str] = {}
    for path in sorted((REPO / "publisher" / "commands").glob("*.py")):
        module = importlib.import_module(f"publisher.commands.{path.stem}")
        for command in getattr(module, "COMMANDS", ()):
            assert command.name not in verbs, f"{command.name} exported twice"
            verbs[str(command.name)] = path.stem
    return verbs


def test_the_verb_table_is_exactly_what_the_command_modules_export() -> None:
    assert COMMAND_MODULES == exported_verbs()


def test_every_verb_resolves_to_its_command() -> None:
    with main.make_context("publisher", ["--help"], resilient_parsing=True) as ctx:
        for name in main.list_commands(ctx):
            command = main.get_command(ctx, name)
            assert command is not None and command.name == name
        assert main.get_command(ctx, "no-such-verb") is None


def test_a_verb_loads_only_its_own_module() -> None:
    probe = ("import sys; from publisher.cli import main\n"
             "main(['secret-key'], standalone_mode=False)\n"
             "print(sorted(m for m in sys.modules if m.startswith('publisher.commands.')))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True, cwd=REPO).stdout.splitlines()[-1]
    assert loaded == "['publisher.commands.context', 'publisher.commands.secret']"
