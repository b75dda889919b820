"""The README, the manual in docs/ and the code agree: commands, options, config keys and
module paths; the manual's generated sections are up to date, and it builds.

As sqlite-utils does: every `publisher …` command and `--option` the pages name exists,
everything the CLI and the config schema have is in their hand-written text, and every
`publisher/…` path they name is a file. The generated sections (publisher/dev/
docs_reference.py) are made again here and must equal the checked-in pages.
"""

from __future__ import annotations

import difflib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import click

from publisher.cli import main
from publisher.config import Settings
from publisher.dev.docs_reference import (
    END,
    START,
    generated_sections,
    regenerate,
    section_model,
)
from tests.conftest import REPO

DOCS = REPO / "docs"
README = (REPO / "README.md").read_text(encoding="utf-8")
PAGES = {path.relative_to(REPO).as_posix(): path.read_text(encoding="utf-8")
         for path in [REPO / "README.md", *sorted(DOCS.glob("*.md"))]}
README_MAX_LINES = 120


def hand_written(text: str) -> str:
    """A page without its generated sections: what a person wrote and must keep true."""
    return re.sub(re.escape(START).replace(r"\{name\}", r"[\w-]+") + r".*?"
                  + re.escape(END).replace(r"\{name\}", r"[\w-]+"), "", text, flags=re.S)


WRITTEN = {name: hand_written(text) for name, text in PAGES.items()}
Command = tuple[str, ...]  # a path below `publisher`: () is the group itself


def cli_commands(group: click.Command = main, path: Command = ()) -> Iterator[
        tuple[Command, click.Command]]:
    yield path, group
    if isinstance(group, click.Group):
        with click.Context(group) as ctx:
            for name in group.list_commands(ctx):
                command = group.get_command(ctx, name)
                assert command is not None, name
                yield from cli_commands(command, (*path, name))


CLI = dict(cli_commands())


def options_of(command: click.Command) -> set[str]:
    return {opt for param in command.params if isinstance(param, click.Option)
            for opt in param.opts if opt.startswith("--")}


def sections(text: str) -> list[str]:
    """A page cut at its `##` and `###` headings, outside code blocks."""
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
    for section in (part for text in WRITTEN.values() for part in sections(text)):
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


def test_every_command_the_pages_name_exists() -> None:
    unknown = sorted({" ".join(command) for command, _, _ in MENTIONS if command not in CLI})
    assert not unknown, f"the README or docs/ name commands the CLI does not have: {unknown}"


def test_every_option_the_pages_name_exists_on_its_command() -> None:
    unknown = []
    for command, option, invoked in MENTIONS:
        if option is None:
            continue
        owners = [command, ()] if command else sorted(invoked)
        if not any(option in options_of(CLI[owner]) for owner in owners if owner in CLI):
            unknown.append(f"publisher {' '.join(command or ('…',))} {option}")
    assert not unknown, f"the README or docs/ name options the CLI does not have: {unknown}"


def test_every_command_is_in_the_hand_written_pages() -> None:
    named = {command for command, _, _ in MENTIONS}
    missing = [" ".join(path) for path, command in CLI.items()
               if path and not isinstance(command, click.Group) and path not in named]
    assert not missing, f"commands missing from the README and docs/: {missing}"


def test_every_option_is_in_the_hand_written_pages_beside_its_command() -> None:
    named: set[tuple[Command, str]] = set()
    for command, option, invoked in MENTIONS:
        if option is not None:
            named |= {(owner, option) for owner in ([command] if command else invoked)}
    missing = [f"publisher {' '.join(path)} {option}".replace("  ", " ")
               for path, command in CLI.items() for option in sorted(options_of(command))
               if (path, option) not in named]
    assert not missing, f"options missing from the README and docs/: {missing}"


def glance_config_table() -> dict[str, set[str]]:
    """`| `[smtp]` | `host`, `port`, `tls` (`starttls` | …) |` -> {"smtp": {"host", …}}, from
    the hand-written table of docs/configuration.md."""
    page = WRITTEN["docs/configuration.md"]
    configuration = page.split("\n## Sections at a glance\n", 1)[1].split("\n## ", 1)[0]
    table: dict[str, set[str]] = {}
    for row in re.findall(r"^\| `\[{1,2}(\w+)\]{1,2}` \| (.*) \|$", configuration, flags=re.M):
        section, keys = row
        while re.search(r"\([^()]*\)", keys):  # drop the asides: defaults, values, links
            keys = re.sub(r"\([^()]*\)", "", keys)
        table[section] = set(re.findall(r"`([a-z][a-z0-9_]*)`", keys))
    return table


def schema_keys() -> dict[str, set[str]]:
    """Each section's keys; a section of free names (`[topics.<tag>]`) has none fixed."""
    keys: dict[str, set[str]] = {}
    for section, field in Settings.model_fields.items():
        model, _repeated = section_model(field.annotation)
        keys[section] = set(model.model_fields) if model is not None else set()
    return keys


def test_the_config_table_lists_exactly_the_schemas_keys() -> None:
    documented, schema = glance_config_table(), schema_keys()
    assert sorted(documented) == sorted(schema), "sections differ"
    unknown = [f"{section}.{key}" for section in schema
               for key in sorted(documented[section] - schema[section])]
    missing = [f"{section}.{key}" for section in schema
               for key in sorted(schema[section] - documented[section])]
    assert not unknown, f"the config table names keys the schema does not have: {unknown}"
    assert not missing, f"config keys missing from docs/configuration.md's table: {missing}"


def test_every_module_path_the_pages_name_exists() -> None:
    paths = {path for text in PAGES.values()
             for path in re.findall(r"\bpublisher/[\w/]+\.py\b", text)}
    assert paths, "the pages name no module (the code layout section is gone?)"
    missing = sorted(path for path in paths if not (REPO / path).is_file())
    assert not missing, f"the README or docs/ name modules that do not exist: {missing}"


def test_every_script_the_pages_run_exists_and_runs_with_the_venvs_python() -> None:
    """`python bench/x.py` fails on a fresh machine (the packages live in .venv)."""
    runs = [run for text in PAGES.values()
            for run in re.findall(r"([^\s`(]*python3?) ((?:bench|tests|docs)/[\w/]+\.py)", text)]
    assert runs, "the pages run no script (the performance section is gone?)"
    assert sorted({python for python, _ in runs}) == [".venv/bin/python"], runs
    missing = sorted({path for _, path in runs if not (REPO / path).is_file()})
    assert not missing, f"the README or docs/ run scripts that do not exist: {missing}"


# A whole code span `smtp.pool_size` (or `smtp.port = 25`), or one that starts with
# `[sending] max_lost_claims`; file names such as `email.txt` are not keys.
CONFIG_SPANS = (re.compile(r"`(\w+)\.([a-z_]+)(?: = [^`]*)?`"),
                re.compile(r"`\[(\w+)\] ([a-z_]+)(?=[`\s])"))
FILE_SUFFIXES = {"py", "txt", "html", "mjml", "json", "atom", "rss", "css", "md", "db"}
CODE_NAMES = {("dkim", "verify")}  # dkimpy's function, named where the tests are described


def test_every_config_key_the_pages_name_exists() -> None:
    """`smtp.pool_size`, `[sending] max_lost_claims`: a section of the schema and its key."""
    schema = schema_keys()
    named = {(section, key) for text in WRITTEN.values() for pattern in CONFIG_SPANS
             for section, key in pattern.findall(text)
             if schema.get(section) and key not in FILE_SUFFIXES
             and (section, key) not in CODE_NAMES}
    assert named, "the pages name no config key (the pattern is broken?)"
    unknown = sorted(f"{section}.{key}" for section, key in named
                     if key not in schema[section])
    assert not unknown, f"the README or docs/ name config keys that do not exist: {unknown}"


def test_the_generated_sections_are_up_to_date() -> None:
    """`make docs-reference` rewrites them; a rename or a new option makes this fail."""
    sections = generated_sections(main, REPO / "publisher", REPO / "pyproject.toml")
    diffs = [
        "".join(difflib.unified_diff(path.read_text(encoding="utf-8").splitlines(True),
                                     text.splitlines(True), str(path), "generated"))
        for path, text in regenerate(DOCS, sections).items()
        if path.read_text(encoding="utf-8") != text]
    assert not diffs, "run `make docs-reference`:\n" + "\n".join(diffs)


def test_the_readme_is_a_front_door_that_starts_with_the_two_commands() -> None:
    lines = README.splitlines()
    assert len(lines) < README_MAX_LINES, f"README.md has {len(lines)} lines"
    first_block = README.split("```sh\n", 1)[1].split("```", 1)[0].splitlines()
    assert [line.split()[:2] for line in first_block] == [["make", "demo"], ["make", "test"]]


def test_every_relative_link_of_the_readme_leads_to_a_file() -> None:
    links = re.findall(r"\]\(([^)#:\s]+)(?:#[^)]*)?\)", README)
    assert links, "the README links nothing (the manual's links are gone?)"
    missing = sorted(link for link in links if not (REPO / link).exists())
    assert not missing, f"README links to files that do not exist: {missing}"


def test_the_manual_builds_without_a_broken_link_or_anchor(tmp_path: Path) -> None:
    """`mkdocs build --strict` (mkdocs.yml turns broken anchors into warnings too)."""
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=REPO, capture_output=True, text=True, timeout=240,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "cli" / "index.html").is_file()
