"""Shared fixtures: the seed edition (a copy under tests/data, never the author's issues/),
and real servers started on loopback."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from publisher.config import Config, PathsConfig, load_config
from publisher.db import metadata, open_database, schema_version
from tests import servers
from tests.servers import free_port, postgres_server

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
# The seed site as shipped (settings, the seed issue, automation steps), copied here so that
# the tests never read the author's issues/ or automations/, nor anything outside the repo.
SITE = DATA / "site"
SEED_TEXT = DATA / "seed" / "2024-06-first-half-digest.txt"
SEED_ISSUE = SITE / "issues" / "2024-06-first-half.md"
# The seed site as built on a fixed day (tests/feeds/test_expected_site.py); with
# PUBLISHER_REGEN_EXPECTED=1 that test rewrites it, the one write into tests/data allowed.
EXPECTED_SITE = DATA / "expected-site"
REGEN_EXPECTED = "PUBLISHER_REGEN_EXPECTED"


FIGURES: list[str] = []


FIGURE = "figure"


@pytest.fixture
def report_figure(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Record a measured figure; all of them are printed at the end of the run. They travel
    in the test's report, so figures measured in pytest-xdist workers are printed too."""
    def record(line: str) -> None:
        request.node.user_properties.append((FIGURE, line))
    return record


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "teardown":
        FIGURES.extend(str(value) for name, value in report.user_properties if name == FIGURE)


# Each test that needs Chromium, PostgreSQL or Postfix carries the marker itself (a database
# parameter carries it through POSTGRESQL below), so that
# `pytest -m "not chromium and not postgres and not postfix"` runs without any of them; the
# helpers in tests/servers.py fail a test that uses a server without its marker.
POSTGRESQL = pytest.param("postgresql", marks=pytest.mark.postgres)
DATABASES = ["sqlite", POSTGRESQL]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    servers.running_test_markers = {marker.name for marker in item.iter_markers()}


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    # Not checked while fixtures are torn down: a shared server stops after whichever test
    # happens to be last.
    servers.running_test_markers = None


@pytest.fixture(autouse=True, scope="session")
def _chromium_only_for_tests_marked_chromium() -> Iterator[None]:
    """Every Chromium launch (the tests' own and publisher's screenshots) goes through
    servers.chromium_binary, which checks the running test's marker."""
    from playwright.sync_api import BrowserType

    launch = BrowserType.launch

    def guarded_launch(self: BrowserType, *args: Any, **kwargs: Any) -> Any:
        servers.chromium_binary()
        return launch(self, *args, **kwargs)

    patch = pytest.MonkeyPatch()
    patch.setattr(BrowserType, "launch", guarded_launch)
    yield
    patch.undo()


def _data_files() -> dict[str, float]:
    regenerating = os.environ.get(REGEN_EXPECTED) == "1"
    return {str(path.relative_to(DATA)): path.stat().st_mtime
            for path in DATA.rglob("*") if path.is_file() and "__pycache__" not in path.parts
            and not (regenerating and path.is_relative_to(EXPECTED_SITE))}


_DATA_AT_START: dict[str, dict[str, float]] = {}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked `waits` run first: most of their time goes to waiting on purpose (a
    receiver's outage, a slowed SMTP server, a lock held), so begun first their waiting
    overlaps the other processes' work instead of being the last minute of a parallel run."""
    items.sort(key=lambda item: item.get_closest_marker("waits") is None)


def pytest_sessionstart(session: pytest.Session) -> None:
    _DATA_AT_START["files"] = _data_files()


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Inputs are read, never written: a test that leaves a file in tests/data (a preview
    under a config's var/, an edited fixture) fails the run and is named here."""
    before, after = _DATA_AT_START.get("files", {}), _data_files()
    changed = sorted(name for name in after if before.get(name) != after[name])
    if before and changed:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        print(f"\ntests wrote into tests/data: {changed[:10]}")  # noqa: T201


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if FIGURES:
        terminalreporter.section("figures measured by the tests")
        for line in FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture
def seed_config(tmp_path: Path) -> Config:
    """The seed site's publisher.toml and issues, with output and database under tmp_path."""
    return make_seed_config(tmp_path)


@functools.cache
def migrated_database() -> Path:
    """An empty SQLite database at the newest migration, made once per test process by the
    real migrations: each seed site starts from a copy, which costs a tenth of migrating."""
    folder = Path(tempfile.mkdtemp(prefix="publisher-migrated-"))
    atexit.register(shutil.rmtree, folder, True)
    open_database(f"sqlite:///{folder / 'publisher.db'}").dispose()
    return folder / "publisher.db"


def make_seed_config(root: Path) -> Config:
    """The seed site's publisher.toml and issues, with output and database under root,
    sending from this process."""
    config = load_config(SITE)
    paths = PathsConfig(issues=str(SITE / "issues"), output=str(root / "public"),
                        templates=str(REPO / "templates"),
                        automations=str(root / "automations"))  # none unless a test adds them
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "publisher.db").exists():
        shutil.copyfile(migrated_database(), root / "publisher.db")
    database = config.settings.database.model_copy(
        update={"url": f"sqlite:///{root / 'publisher.db'}"})
    # Sent from the test's own process: a sender process per core costs an interpreter start
    # per drain. The tests about sender processes ask for them (test_sender_processes.py),
    # and a subprocess's config file (write_config_file) keeps one.
    sending = config.settings.sending.model_copy(update={"sender_processes": 0})
    settings = config.settings.model_copy(update={"paths": paths, "database": database,
                                                  "sending": sending})
    return replace(config, settings=settings, root=root)  # var/ (previews) under root too


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server on loopback (initdb + pg_ctl in a temp dir)."""
    with postgres_server() as server:
        yield server.url


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test twice: on a new SQLite file, and on the test PostgreSQL server emptied
    (every table but the schema version, ids restarting at 1)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'publisher.db'}"
    url: str = request.getfixturevalue("postgres_url")
    tables = ", ".join(t.name for t in metadata.sorted_tables if t is not schema_version)
    engine = open_database(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


class LiveServer:
    """A real uvicorn server on a free loopback port, running an ASGI app in a thread."""

    def __init__(self, app: object, port: int | None = None) -> None:
        import threading

        import uvicorn

        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",  # type: ignore[arg-type]
                                lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        import time

        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
