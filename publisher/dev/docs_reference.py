"""The manual's reference sections, made from the code so that they cannot drift.

Three sections of docs/ are generated: every command's `--help` (from the click group),
the settings reference (from the config schema, with the meanings `publisher init` writes
into publisher.toml) and the code layout (from each module's docstring, in the order of the
import layers). `docs/generate.py` writes them between their markers; tests/test_docs.py
makes them again in memory and fails when a checked-in page differs.
"""

from __future__ import annotations

import ast
import json
import re
import tomllib
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from publisher.config import Settings
from publisher.site.starter import MEANINGS

HELP_WIDTH = 88  # columns of the --help text, fixed so the page does not depend on a terminal
START = "<!-- generated: {name} (make docs-reference) -->"
END = "<!-- end generated: {name} -->"
# Each generated section: the page it lives in.
PAGES = {"cli": "cli.md", "configuration": "configuration.md", "code-layout": "development.md"}


class MarkersMissing(ValueError):
    """A page lacks the start or end marker of the section it should hold."""


def help_pages(command: click.Command, path: tuple[str, ...] = ("publisher",),
               parent: click.Context | None = None) -> Iterator[tuple[str, str]]:
    """("publisher send", its --help text) for the group and every command below it."""
    ctx = click.Context(command, info_name=path[-1], parent=parent,
                        terminal_width=HELP_WIDTH, max_content_width=HELP_WIDTH)
    yield " ".join(path), command.get_help(ctx)
    if isinstance(command, click.Group):
        for name in command.list_commands(ctx):
            sub = command.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                yield from help_pages(sub, (*path, name), ctx)


def cli_reference(group: click.Command) -> str:
    """Every command's --help, one heading each, in the order `--help` lists them."""
    parts = []
    for name, text in help_pages(group):
        parts.append(f"### `{name}`\n\n```text\n{text.rstrip()}\n```\n")
    return "\n".join(parts)


def _type_name(annotation: Any) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " \\| ".join(f"`{json.dumps(arg)}`" for arg in args)
    if origin in (typing.Union, types.UnionType):
        names = [_type_name(arg) for arg in args if arg is not types.NoneType]
        return " \\| ".join(names) + (" or not set" if types.NoneType in args else "")
    if args:
        return f"{origin.__name__}[{', '.join(_type_name(arg) for arg in args)}]"
    return str(annotation.__name__)


def _bounds(field: FieldInfo) -> str:
    symbols = {"ge": ">=", "gt": ">", "le": "<=", "lt": "<"}
    found = [f"{symbols[name]} {getattr(rule, name)}" for rule in field.metadata
             for name in symbols if getattr(rule, name, None) is not None]
    return f" ({', '.join(found)})" if found else ""


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "not set"
    if isinstance(value, bool):
        return f"`{str(value).lower()}`"
    return f"`{json.dumps(value, ensure_ascii=False)}`"


def _meaning(key: str, field: FieldInfo) -> str:
    meaning = field.description or MEANINGS.get(key)
    if not meaning:
        raise ValueError(f"{key}: no meaning; add one to MEANINGS in publisher/site/starter.py")
    return meaning.replace("|", "\\|")


def section_model(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model of a settings section and whether the section repeats (`[[webhooks]]`, a
    list of tables); (None, False) for a section of free names (`[topics.<tag>]`)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) is list and args and isinstance(args[0], type) \
            and issubclass(args[0], BaseModel):
        return args[0], True
    return None, False


def config_reference(settings: type[BaseModel] = Settings) -> str:
    """Each section of publisher.toml: its keys with type, default and meaning."""
    parts = []
    for section, field in settings.model_fields.items():
        model, repeated = section_model(field.annotation)
        if model is None:
            parts.append(f"### `[{section}.<name>]`\n\n{_meaning(section, field)}\n")
            continue
        rows = [f"| `{key}` | {_type_name(sub.annotation)}{_bounds(sub)} | {_default(sub)} "
                f"| {_meaning(f'{section}.{key}', sub)} |"
                for key, sub in model.model_fields.items()]
        title = f"[[{section}]]" if repeated else f"[{section}]"
        intro = [_meaning(section, field), ""] if repeated else []
        parts.append("\n".join([f"### `{title}`", "", *intro, "| key | type | default | meaning |",
                                "| --- | --- | --- | --- |", *rows, ""]))
    return "\n".join(parts)


def docstring_summary(path: Path) -> str:
    """The first paragraph of a module's docstring, on one line ("" without one)."""
    doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
    return " ".join(doc.split("\n\n", 1)[0].split()).replace("|", "\\|")


def layer_order(pyproject: Path) -> list[str]:
    """The dotted names of the import-linter layers contract of the whole package (the
    first layers contract), top layer first."""
    settings = tomllib.loads(pyproject.read_text(encoding="utf-8"))
    for contract in settings["tool"]["importlinter"]["contracts"]:
        if contract["type"] == "layers":
            prefix = "".join(f"{container}." for container in contract.get("containers", [])[:1])
            return [prefix + name for layer in contract["layers"]
                    for name in re.split(r"[|:\s\\]+", layer) if name]
    return []


def _rank(package: Path, order: list[str]) -> Callable[[Path], tuple[int, str]]:
    def rank(path: Path) -> tuple[int, str]:
        dotted = ".".join(path.relative_to(package.parent).with_suffix("").parts)
        dotted = dotted.removesuffix(".__init__")
        top = ".".join(dotted.split(".")[:2])
        return (order.index(top) if top in order else len(order), dotted)
    return rank


def _module_rows(folder: Path, root: Path) -> list[str]:
    return [f"| `{path.relative_to(root).as_posix()}` | {docstring_summary(path)} |"
            for path in sorted(folder.glob("*.py")) if path.name != "__init__.py"]


def code_layout(package: Path, pyproject: Path) -> str:
    """The package's modules, one table per (sub)package, in the order of the layers."""
    root, order = package.parent, layer_order(pyproject)
    rank = _rank(package, order)
    folders = sorted((init.parent for init in package.rglob("__init__.py")),  # the top first
                     key=lambda folder: (folder != package, rank(folder / "__init__.py")))
    parts = []
    for folder in folders:
        summary = docstring_summary(folder / "__init__.py")
        heading = f"### `{folder.relative_to(root).as_posix()}/`"
        rows = _module_rows(folder, root)
        if folder == package:  # the top modules: the CLI first, then the core ones
            rows = sorted(rows, key=lambda row: rank(root / row.split("`")[1]))
        parts.append("\n".join([heading, "", summary, "", "| module | what it does |",
                                "| --- | --- |", *rows, ""]).replace("\n\n\n", "\n\n"))
    return "\n".join(parts)


def replace_section(text: str, name: str, body: str) -> str:
    """The page with the section between `name`'s markers replaced by `body`."""
    start, end = START.format(name=name), END.format(name=name)
    if start not in text or end not in text:
        raise MarkersMissing(f"markers of the generated section {name!r} are missing")
    before, rest = text.split(start, 1)
    after = rest.split(end, 1)[1]
    return f"{before}{start}\n\n{body.strip()}\n\n{end}{after}"


def generated_sections(group: click.Command, package: Path, pyproject: Path) -> dict[str, str]:
    """Each generated section's body, by name."""
    return {"cli": cli_reference(group), "configuration": config_reference(),
            "code-layout": code_layout(package, pyproject)}


def regenerate(docs: Path, sections: dict[str, str]) -> dict[Path, str]:
    """Every page that holds a generated section, with the sections made afresh."""
    pages: dict[Path, str] = {}
    for name, body in sections.items():
        path = docs / PAGES[name]
        pages[path] = replace_section(pages.get(path) or path.read_text(encoding="utf-8"),
                                      name, body)
    return pages
