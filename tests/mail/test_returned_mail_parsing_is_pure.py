"""Reading returned mail is pure: publisher.mail.returned and publisher.mail.verp take bytes
and text and give reports and ids, never touching a database or a file (applying a report
is publisher.sending.returned_mail's)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import publisher.mail.returned
import publisher.mail.verp

# What reaches a database, a file or the clock.
IMPURE = ("sqlalchemy", "mailbox", "pathlib", "os", "shutil", "publisher.db",
          "publisher.outage", "publisher.clock", "publisher.subscribers", "publisher.sending")


@pytest.mark.parametrize("module", [publisher.mail.returned, publisher.mail.verp])
def test_returned_mail_parsing_imports_no_database_or_file_access(module: object) -> None:
    tree = ast.parse(Path(str(getattr(module, "__file__", ""))).read_text(encoding="utf-8"))
    imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names]
    imported += [node.module or "" for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom)]
    opened = [node.lineno for node in ast.walk(tree) if isinstance(node, ast.Call)
              and isinstance(node.func, ast.Name) and node.func.id == "open"]
    impure = [name for name in imported
              if any(name == bad or name.startswith(bad + ".") for bad in IMPURE)]
    assert impure == [] and opened == []
