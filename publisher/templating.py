"""What every rendered page and email shares: one jinja2 environment and one date label.

Templates are HTML (or MJML, which is HTML too), so output is always autoescaped, and a
misspelt variable fails the render (StrictUndefined) instead of printing nothing.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path

import jinja2

from publisher import urls
from publisher.i18n import strings_for


@lru_cache(maxsize=16)
def environment(templates_dir: Path, *, keep_trailing_newline: bool = False) -> jinja2.Environment:
    """The environment for the templates in `templates_dir`, built once per folder."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=keep_trailing_newline,
    )
    env.globals["tag_path"] = urls.tag_path
    return env


def date_label(local: datetime, language: str) -> str:
    """A date (already in the zone it is shown in) as a reader of `language` writes it."""
    return local.strftime(strings_for(language)["date_format"])
