"""What every rendered page and email shares: one jinja2 environment and one date label.

The environment serves every language: a render gets its `_`/`ngettext`/`pgettext` in its
context (`i18n.Translator.template_functions`); the globals are the same for all of them.

Templates are HTML (or MJML, which is HTML too), so output is always autoescaped, and a
misspelt variable fails the render (StrictUndefined) instead of printing nothing.

publisher ships its templates (email, archive, pages, console, their CSS and script) inside
the package; a site's own templates folder overrides any of them file by file, under the
same relative name, and needs to hold nothing else.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path

import jinja2

from publisher import i18n, urls

_PACKAGE = Path(__file__).resolve().parent


def default_templates_dir() -> Path:
    """The templates publisher ships: inside the installed package (the wheel carries the
    repository's top-level templates/ there), or that folder itself in a source checkout."""
    packaged = _PACKAGE / "templates"
    return packaged if packaged.is_dir() else _PACKAGE.parent / "templates"


def template_dirs(site_templates: Path) -> list[Path]:
    """Where templates are looked up, first match wins: the site's folder, then the defaults."""
    folders = [site_templates] if site_templates.is_dir() else []
    default = default_templates_dir()
    if not folders or folders[0].resolve() != default.resolve():
        folders.append(default)
    return folders


def template_file(site_templates: Path, name: str) -> Path:
    """A template or asset by relative name (`archive/style.css`): the site's, else ours."""
    folders = template_dirs(site_templates)
    for folder in folders:
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"{name}: in none of {', '.join(map(str, folders))}")


def template_files(site_templates: Path) -> dict[str, Path]:
    """Every template by relative name, each as the lookup finds it (the site's overrides)."""
    found: dict[str, Path] = {}
    for folder in reversed(template_dirs(site_templates)):
        found.update({path.relative_to(folder).as_posix(): path
                      for path in folder.rglob("*") if path.is_file()})
    return dict(sorted(found.items()))


@lru_cache(maxsize=16)
def environment(templates_dir: Path, *, keep_trailing_newline: bool = False) -> jinja2.Environment:
    """The environment for a site's templates folder over the defaults, built once per folder."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader([str(p) for p in template_dirs(templates_dir)]),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=keep_trailing_newline,
    )
    env.globals["tag_path"] = urls.tag_path
    env.globals.update(i18n.VALUE_LABELS)
    return env


def date_label(local: datetime, language: str) -> str:
    """A date (already in the zone it is shown in) as a reader of `language` writes it."""
    return i18n.translator_for(language).date(local.date())
