"""The README and the code agree: commands, options, config keys and module paths.

As sqlite-utils does: every `publisher …` command and `--option` the README names exists,
everything the CLI and the config schema have is in the README, and every `publisher/…`
path it names is a file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import click
from pydantic import BaseModel

from publisher.cli import main
from publisher.config import Settings
from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
Command = tuple[str, ...]  # a path below `publisher`: () is the group itself


def cli_commands(group: click.Command = main, path: Command = ()) -> Iterator[
        tuple[Command, click.Command]]:
    yield path, group
    if isinstance(group, click.Group):
        for name, command in group.commands.items():
            yield from cli_commands(command, (*path, name))


CLI = dict(cli_commands())


def options_of(command: click.Command) -> set[str]:
    return {opt for param in command.params if isinstance(param, click.Option)
            for opt in param.opts if opt.startswith("--")}


def sections(text: str) -> list[str]:
    """The README cut at its `##` and `###` headings, outside code blocks."""
    parts: list[str] = []
    current: list[str] = []
    fenced = False
    for line in text.splitlines():
        fenced ^= line.startswith("```")
        if not fenced and re.match(r"^#{2,3} ", line):
            parts.append("\n".join(current))
            current = []
        current.append(line)
    return [*parts, "\n".join(current)]


def code_snippets(section: str) -> list[str]:
    """Each line of a code block and each inline code span, in order."""
    snippets: list[str] = []
    for number, block in enumerate(re.split(r"^```.*$", section, flags=re.M)):
        if number % 2:
            snippets += block.splitlines()
        else:
            snippets += re.findall(r"`([^`\n]+)`", block)
    return snippets


def invocation(snippet: str) -> tuple[Command, set[str]] | None:
    """`publisher dkim keygen --type ed25519` -> (("dkim", "keygen"), {"--type"})."""
    words = snippet.replace("[", " ").replace("]", " ").split()
    if not words or words[0] != "publisher":
        return None
    path: Command = ()
    options: set[str] = set()
    for word in words[1:]:
        if word == "#":  # a shell comment follows
            break
        if word.startswith("--"):
            options.add(word.split("=")[0])
        elif not options and isinstance(CLI[path], click.Group):
            if (*path, word) not in CLI:
                return (*path, word), options  # not a command: the test names it
            path = (*path, word)
    return path, options


def mentions() -> Iterator[tuple[Command, str | None, set[Command]]]:
    """(command, option or None, the commands invoked in the same section) for every
    `publisher …` invocation, and every bare `--option` span (its command is the section's)."""
    for section in sections(README):
        snippets = code_snippets(section)
        invoked = {found[0] for s in snippets if (found := invocation(s))} | {()}
        for snippet in snippets:
            if found := invocation(snippet):
                yield found[0], None, invoked
                for option in found[1]:
                    yield found[0], option, invoked
            elif re.match(r"--[a-z]", snippet):
                yield (), snippet.split()[0].split("=")[0], invoked


MENTIONS = list(mentions())


def test_every_command_the_readme_names_exists() -> None:
    unknown = sorted({" ".join(command) for command, _, _ in MENTIONS if command not in CLI})
    assert not unknown, f"README names commands the CLI does not have: {unknown}"


def test_every_option_the_readme_names_exists_on_its_command() -> None:
    unknown = []
    for command, option, invoked in MENTIONS:
        if option is None:
            continue
        owners = [command, ()] if command else sorted(invoked)
        if not any(option in options_of(CLI[owner]) for owner in owners if owner in CLI):
            unknown.append(f"publisher {' '.join(command or ('…',))} {option}")
    assert not unknown, f"README names options the CLI does not have: {unknown}"


def test_every_command_is_in_the_readme() -> None:
    named = {command for command, _, _ in MENTIONS}
    missing = [" ".join(path) for path, command in CLI.items()
               if path and not isinstance(command, click.Group) and path not in named]
    assert not missing, f"commands missing from README.md: {missing}"


def test_every_option_is_in_the_readme_beside_its_command() -> None:
    named: set[tuple[Command, str]] = set()
    for command, option, invoked in MENTIONS:
        if option is not None:
            named |= {(owner, option) for owner in ([command] if command else invoked)}
    missing = [f"publisher {' '.join(path)} {option}".replace("  ", " ")
               for path, command in CLI.items() for option in sorted(options_of(command))
               if (path, option) not in named]
    assert not missing, f"options missing from README.md: {missing}"


def readme_config_table() -> dict[str, set[str]]:
    """`| `[smtp]` | `host`, `port`, `tls` (`starttls` | …) |` -> {"smtp": {"host", …}}."""
    configuration = README.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    table: dict[str, set[str]] = {}
    for row in re.findall(r"^\| `\[(\w+)\]` \| (.*) \|$", configuration, flags=re.M):
        section, keys = row
        while re.search(r"\([^()]*\)", keys):  # drop the asides: defaults, values, links
            keys = re.sub(r"\([^()]*\)", "", keys)
        table[section] = set(re.findall(r"`([a-z][a-z0-9_]*)`", keys))
    return table


def schema_keys() -> dict[str, set[str]]:
    """Each section's keys; a section of free names (`[topics.<tag>]`) has none fixed."""
    keys: dict[str, set[str]] = {}
    for section, field in Settings.model_fields.items():
        model = field.annotation
        if isinstance(model, type) and issubclass(model, BaseModel):
            keys[section] = set(model.model_fields)
        else:
            keys[section] = set()
    return keys


def test_the_readme_config_table_lists_exactly_the_schemas_keys() -> None:
    documented, schema = readme_config_table(), schema_keys()
    assert sorted(documented) == sorted(schema), "sections differ"
    unknown = [f"{section}.{key}" for section in schema
               for key in sorted(documented[section] - schema[section])]
    missing = [f"{section}.{key}" for section in schema
               for key in sorted(schema[section] - documented[section])]
    assert not unknown, f"README's config table names keys the schema does not have: {unknown}"
    assert not missing, f"config keys missing from README's config table: {missing}"


def test_every_module_path_the_readme_names_exists() -> None:
    paths = set(re.findall(r"\bpublisher/[\w/]+\.py\b", README))
    assert paths, "the README names no module (the code layout section is gone?)"
    missing = sorted(path for path in paths if not (REPO / path).is_file())
    assert not missing, f"README names modules that do not exist: {missing}"


def test_every_script_the_readme_runs_exists_and_runs_with_the_venvs_python() -> None:
    """`python bench/x.py` fails on a fresh machine (the packages live in .venv)."""
    runs = re.findall(r"([^\s`(]*python3?) ((?:bench|tests)/[\w/]+\.py)", README)
    assert runs, "the README runs no script (the performance section is gone?)"
    assert sorted({python for python, _ in runs}) == [".venv/bin/python"], runs
    missing = sorted({path for _, path in runs if not (REPO / path).is_file()})
    assert not missing, f"README runs scripts that do not exist: {missing}"
