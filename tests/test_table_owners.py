"""Each table is written only by its owners (publisher.db.TABLE_OWNERS): an AST rule over
every module under publisher/ finds the statements that insert, update or delete rows and
the table each names, and fails with the module, line and table of any other writer.

A write is `table.insert()` / `.update()` / `.delete()`, or any insert, update or delete
construct given a table (`sa.insert(t)`, `sa.update(t)`, `sa.delete(t)`, `pg_insert(t)`,
`sqlite_insert(t)`, `dialect.insert(t)`, `_insert(conn)(t)`), or raw SQL in `sa.text(...)`
that starts with INSERT INTO, UPDATE or DELETE FROM. Tables are publisher.db's, reached by
their imported names (aliases and simple assignments included) or as `db.<table>`. The
migrations in publisher.db, which create and reshape tables, are exempt.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from publisher import db
from publisher.db import MIGRATIONS, TABLE_OWNERS, metadata

PACKAGE = Path(db.__file__).parent
TABLE_VARIABLES = {name: value.name for name, value in vars(db).items()
                   if isinstance(value, sa.Table)}
MIGRATION_FUNCTIONS = {migrate.__name__ for _, _, migrate in MIGRATIONS}
_WRITE_CONSTRUCT = re.compile(r"(insert|update|delete)$", re.IGNORECASE)
_RAW_WRITE = re.compile(r"^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+(\w+)", re.IGNORECASE)


@dataclass(frozen=True)
class Write:
    module: str
    line: int
    table: str
    how: str


def _dotted(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    return ""


def _terminal_name(func: ast.expr) -> str:
    """The name a call is made by: `x` of `x(...)`, `insert` of `sa.insert(...)`, and of
    a call that makes the callable (`_insert(conn)(table)`), the inner one's."""
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Call):
        return _terminal_name(func.func)
    return ""


class _Scope:
    """The names that stand for publisher.db's tables in one module."""

    def __init__(self, tree: ast.Module, module: str) -> None:
        self.tables: dict[str, str] = dict(TABLE_VARIABLES) if module == "publisher.db" else {}
        self.db_names: set[str] = {"publisher.db"}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module == "publisher.db":
                self.tables.update({a.asname or a.name: TABLE_VARIABLES[a.name]
                                    for a in node.names if a.name in TABLE_VARIABLES})
            elif isinstance(node, ast.ImportFrom) and node.module == "publisher":
                self.db_names.update(a.asname or a.name for a in node.names if a.name == "db")
            elif isinstance(node, ast.Import):
                self.db_names.update(a.asname for a in node.names
                                     if a.name == "publisher.db" and a.asname)
        for _ in range(2):  # an assignment of an assigned name: t = u = deliveries
            for node in ast.walk(tree):
                if (isinstance(node, ast.Assign) and len(node.targets) == 1
                        and isinstance(node.targets[0], ast.Name)):
                    table = self.table_of(node.value)
                    if table is not None:
                        self.tables[node.targets[0].id] = table

    def table_of(self, node: ast.expr) -> str | None:
        if isinstance(node, ast.Name):
            return self.tables.get(node.id)
        if isinstance(node, ast.Attribute) and _dotted(node.value) in self.db_names:
            return TABLE_VARIABLES.get(node.attr)
        return None


def _raw_sql_table(call: ast.Call) -> str | None:
    if _terminal_name(call.func) != "text" or not call.args:
        return None
    first = call.args[0]
    if isinstance(first, ast.JoinedStr) and first.values:
        first = first.values[0]
    if isinstance(first, ast.Constant) and isinstance(first.value, str):
        found = _RAW_WRITE.match(first.value)
        return found.group(1).lower() if found else None
    return None


def _write_of(call: ast.Call, scope: _Scope) -> tuple[str, str] | None:
    """(table, how) when the call builds a write, else None."""
    func = call.func
    if isinstance(func, ast.Attribute) and func.attr in ("insert", "update", "delete"):
        table = scope.table_of(func.value)
        if table is not None:
            return table, f"{_dotted(func)}()"
    if call.args and _WRITE_CONSTRUCT.search(_terminal_name(func)):
        table = scope.table_of(call.args[0])
        if table is not None:
            return table, f"{_terminal_name(func)}({table})"
    table = _raw_sql_table(call)
    return (table, "raw SQL") if table is not None else None


def _calls_outside_migrations(tree: ast.Module, module: str) -> Iterator[ast.Call]:
    exempt = (ast.FunctionDef, ast.AsyncFunctionDef)
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if (module == "publisher.db" and isinstance(node, exempt)
                and node.name in MIGRATION_FUNCTIONS):
            continue
        if isinstance(node, ast.Call):
            yield node
        pending.extend(ast.iter_child_nodes(node))


def writes_in(source: str, module: str) -> list[Write]:
    """Every write in one module's source, with the table it names."""
    tree = ast.parse(source)
    scope = _Scope(tree, module)
    found = []
    for call in _calls_outside_migrations(tree, module):
        write = _write_of(call, scope)
        if write is not None:
            found.append(Write(module, call.lineno, *write))
    return sorted(found, key=lambda w: w.line)


def violations(writes: list[Write]) -> list[str]:
    """A readable line per write by a module that does not own its table."""
    lines = []
    for write in writes:
        owners = TABLE_OWNERS.get(write.table)
        if owners is not None and write.module in owners:
            continue
        allowed = ", ".join(owners) if owners else "no module"
        unknown = "" if owners is not None else " (a table publisher.db does not define)"
        lines.append(f"{write.module} line {write.line}: writes `{write.table}`{unknown} "
                     f"by {write.how}; only {allowed} may (publisher.db.TABLE_OWNERS)")
    return lines


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_writes() -> list[Write]:
    return [write for path in sorted(PACKAGE.rglob("*.py"))
            for write in writes_in(path.read_text(encoding="utf-8"), _module_name(path))]


def test_every_table_has_its_owners_named_in_one_place() -> None:
    assert set(TABLE_OWNERS) == set(metadata.tables)


def test_only_a_tables_owners_write_it() -> None:
    found = violations(all_writes())
    assert not found, "tables written outside their owners:\n" + "\n".join(found)


def test_the_rule_sees_the_writes_that_are_there() -> None:
    seen = {(w.module, w.table) for w in all_writes()}
    assert {("publisher.sending.returned_mail", "bounce_reports"),  # table.insert()
            ("publisher.sending.retention", "deliveries"),  # sa.delete(table)
            ("publisher.sending.enrolment", "automation_steps"),  # a dialect's insert
            ("publisher.sending.oneoff", "sends"),  # _insert(conn)(table)
            ("publisher.subscribers.store", "subscribers"),
            ("publisher.db", "schema_version")} <= seen


STRANGER = "publisher.web.stranger"


@pytest.mark.parametrize(("source", "how"), [
    ("from publisher.db import deliveries\n"
     "def f(conn):\n    conn.execute(deliveries.update().values(status='sent'))\n",
     "deliveries.update()"),
    ("import sqlalchemy as sa\nfrom publisher.db import deliveries as d\n"
     "def f(conn):\n    conn.execute(sa.delete(d))\n", "delete(deliveries)"),
    ("from sqlalchemy.dialects.postgresql import insert as pg_insert\n"
     "from publisher.db import deliveries\n"
     "def f(conn):\n    conn.execute(pg_insert(deliveries).values())\n",
     "pg_insert(deliveries)"),
    ("from publisher import db\n"
     "def f(conn):\n    t = db.deliveries\n    conn.execute(t.insert())\n", "t.insert()"),
    ("import sqlalchemy as sa\n"
     "def f(conn):\n    conn.execute(sa.text('UPDATE deliveries SET status = :s'))\n",
     "raw SQL"),
    ("import sqlalchemy as sa\n"
     "def f(conn, n):\n    conn.execute(sa.text(f'DELETE FROM deliveries WHERE id = {n}'))\n",
     "raw SQL"),
])
def test_a_write_outside_the_owners_is_named_with_its_module_line_and_table(
    source: str, how: str,
) -> None:
    found = violations(writes_in(source, STRANGER))
    assert len(found) == 1
    assert found[0].startswith(f"{STRANGER} line ")
    assert f"writes `deliveries` by {how}; only publisher.sending.outbox" in found[0]


def test_owners_may_write_and_anyone_may_read() -> None:
    write = ("from publisher.db import deliveries\n"
             "def f(conn):\n    conn.execute(deliveries.update())\n")
    read = ("import sqlalchemy as sa\nfrom publisher.db import deliveries\n"
            "def f(conn, seen):\n    seen.update({1})\n"
            "    return conn.execute(sa.select(deliveries)).all()\n")
    assert violations(writes_in(write, "publisher.sending.outbox")) == []
    assert writes_in(read, STRANGER) == []


def test_a_table_nobody_owns_and_an_unknown_table_fail_for_everyone() -> None:
    source = ("import sqlalchemy as sa\nfrom publisher.db import leases\n"
              "def f(conn):\n    conn.execute(leases.delete())\n"
              "    conn.execute(sa.text('INSERT INTO scratch VALUES (1)'))\n")
    found = violations(writes_in(source, "publisher.sending.outbox"))
    assert [line.split(": ", 1)[1] for line in found] == [
        "writes `leases` by leases.delete(); only no module may (publisher.db.TABLE_OWNERS)",
        "writes `scratch` (a table publisher.db does not define) by raw SQL; only no module "
        "may (publisher.db.TABLE_OWNERS)"]


def test_only_the_migrations_in_db_are_exempt() -> None:
    source = ("import sqlalchemy as sa\n"
              f"def {sorted(MIGRATION_FUNCTIONS)[0]}(conn):\n"
              "    conn.execute(sa.text('UPDATE subscribers SET name = 1'))\n"
              "def helper(conn):\n    conn.execute(subscriber_table.update())\n")
    found = violations(writes_in(source, "publisher.db"))
    assert len(found) == 1 and "line 5: writes `subscribers`" in found[0]
