"""What a person reads when the database fails: one line naming the fault, no SQL and no
addresses, a distinct exit code, the traceback only with --debug; real driver errors."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from publisher.errors import EX_IOERR, EX_TEMPFAIL
from publisher.outage import Fault, as_error, classify
from tests.cli import CLI_ENV, run_publisher, run_publisher_here, start_publisher
from tests.sending.helpers import write_config_file
from tests.servers import free_port

CLOSED_POSTGRES = "postgresql+psycopg://publisher@127.0.0.1:{port}/publisher"


@pytest.mark.parametrize("args", [("status",), ("send", "2024-06-first-half", "--yes"),
                                  ("subscribers", "stats")])
def test_an_unreachable_database_is_one_line_with_exit_75(
    tmp_path: Path, args: tuple[str, ...]
) -> None:
    url = CLOSED_POSTGRES.format(port=free_port())
    config = write_config_file(tmp_path, free_port(), url, outage_seconds=1)
    done = run_publisher_here(config, *args)
    assert done.returncode == EX_TEMPFAIL, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: database unavailable: connection failed")
    assert last.endswith("nothing was lost, run the same command again to resume")
    assert "Traceback" not in done.stderr and "SELECT" not in done.stderr


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    url = CLOSED_POSTGRES.format(port=free_port())
    config = write_config_file(tmp_path, free_port(), url, outage_seconds=0)
    flag = run_publisher_here(config, "--debug", "status")
    env = run_publisher_here(config, "status", env={**CLI_ENV, "PUBLISHER_DEBUG": "1"})
    for done in (flag, env):
        assert done.returncode != 0 and "Traceback" in done.stderr
        assert "OperationalError" in done.stderr


def test_an_import_waits_out_a_sqlite_lock_then_lands_every_row(tmp_path: Path) -> None:
    database = tmp_path / "publisher.db"
    config = write_config_file(tmp_path, free_port(), f"sqlite:///{database}")
    rows = "".join(f"u{n}@example.net,读者 {n}\n" for n in range(300))
    (tmp_path / "list.csv").write_text("email,name\n" + rows, encoding="utf-8")
    assert run_publisher_here(config, "subscribers", "stats").returncode == 0  # schema in place
    out, err = tmp_path / "import.out", tmp_path / "import.err"
    with _write_lock(database), out.open("w") as stdout, err.open("w") as stderr:
        importing = start_publisher(config, "subscribers", "import", str(tmp_path / "list.csv"),
                                    text=True, stdout=stdout, stderr=stderr)
        # The lock goes once the import has met it and said so, however slow its start.
        _wait_until(lambda: '"event": "database_unavailable"' in err.read_text(), importing)
    assert importing.wait(timeout=120) == 0, err.read_text()
    assert "added 300" in out.read_text()
    assert '"event": "database_back"' in err.read_text()
    assert "@example.net" not in err.read_text()


@pytest.mark.waits
def test_a_lock_held_past_the_budget_is_one_line_and_the_rerun_lands_it(tmp_path: Path) -> None:
    database = tmp_path / "publisher.db"
    config = write_config_file(tmp_path, free_port(), f"sqlite:///{database}",
                               outage_seconds=1)
    (tmp_path / "list.csv").write_text("email,name\nreader@example.net,读者\n",
                                       encoding="utf-8")
    assert run_publisher_here(config, "subscribers", "stats").returncode == 0
    with _write_lock(database):  # held until the import has given up
        done = run_publisher(config, "subscribers", "import", str(tmp_path / "list.csv"))
    assert done.returncode == EX_TEMPFAIL, done.stderr
    assert "Error: database is locked by another process: database is locked; nothing was " \
           "lost, run the same command again to resume" in done.stderr
    assert "reader@example.net" not in done.stderr and "Traceback" not in done.stderr
    again = run_publisher_here(config, "subscribers", "import", str(tmp_path / "list.csv"))
    assert again.returncode == 0 and "added 1" in again.stdout


@contextmanager
def _write_lock(path: Path) -> Iterator[None]:
    """Another process's write transaction on the SQLite file, for the length of the block."""
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        connection.execute("ROLLBACK")
        connection.close()


def _wait_until(condition: Callable[[], bool], process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert process.poll() is None, "the command ended before meeting the lock"
        assert time.monotonic() < deadline, "the command never met the lock"
        time.sleep(0.05)


def test_a_full_sqlite_disk_is_not_retried_and_says_so(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'small.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE blobs (data BLOB)"))
    with pytest.raises(sa.exc.OperationalError) as caught, engine.begin() as conn:
        conn.execute(sa.text("PRAGMA max_page_count = 8"))  # the file cannot grow: SQLITE_FULL
        conn.execute(sa.text("INSERT INTO blobs VALUES (zeroblob(100000))"))
    assert classify(caught.value) is Fault.FULL
    error = as_error(caught.value)
    assert error.exit_code == EX_IOERR
    assert str(error.message).startswith("database disk is full: database or disk is full;")


def test_a_locked_sqlite_database_is_transient(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    sqlite3.connect(path).execute("CREATE TABLE t (x)").connection.commit()
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 0.1})
    with pytest.raises(sa.exc.OperationalError) as caught, engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO t VALUES (1)"))
    holder.execute("ROLLBACK")
    assert classify(caught.value) is Fault.LOCKED


def test_a_constraint_violation_is_not_an_outage(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'c.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (x INTEGER PRIMARY KEY)"))
        conn.execute(sa.text("INSERT INTO t VALUES (1)"))
    with pytest.raises(sa.exc.IntegrityError) as caught, engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO t VALUES (1)"))
    assert classify(caught.value) is Fault.ERROR
    assert as_error(caught.value).exit_code == 1
