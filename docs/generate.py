"""Rewrite the generated sections of the manual (`make docs-reference`).

The command line's help, the settings reference and the code layout are made from the code
by publisher/dev/docs_reference.py; tests/test_docs.py fails when a page is not up to date.
"""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from publisher.cli import main  # noqa: E402
from publisher.dev.docs_reference import generated_sections, regenerate  # noqa: E402


def write_reference() -> list[Path]:
    """Rewrite each page whose generated sections changed; the pages rewritten."""
    sections = generated_sections(main, REPO / "publisher", REPO / "pyproject.toml")
    changed = []
    for path, text in regenerate(REPO / "docs", sections).items():
        if path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(path)
    return changed


if __name__ == "__main__":
    for path in write_reference():
        sys.stdout.write(f"rewrote {path.relative_to(REPO)}\n")
