"""Shared fixtures: the seed edition (a copy under tests/data, never the author's issues/),
and real servers started on loopback."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from publisher.config import Config, PathsConfig, load_config
from publisher.db import metadata, open_database, schema_version
from tests.servers import free_port, postgres_server

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
# The seed site as shipped (settings, the seed issue, automation steps), copied here so that
# the tests never read the author's issues/ or automations/, nor anything outside the repo.
SITE = DATA / "site"
SEED_TEXT = DATA / "seed" / "2024-06-first-half-digest.txt"
SEED_ISSUE = SITE / "issues" / "2024-06-first-half.md"


FIGURES: list[str] = []


@pytest.fixture
def report_figure() -> Callable[[str], None]:
    """Record a measured figure; all of them are printed at the end of the run."""
    return FIGURES.append


# Which tests need which server, read from what they use, so that
# `pytest -m "not chromium and not postgres and not postfix"` runs without any of them.
_NEEDS = {
    "chromium": ("shoot(", "shoot_", "playwright", "CHROMIUM", "screenshot"),
    "postfix": ("smtp_sink(", "Postfix", "postfix_", "Dovecot(", "spamassassin"),
    "postgres": ("postgres_server(", "postgres_url", "PostgresServer"),
}


def _uses(item: pytest.Item, words: tuple[str, ...]) -> bool:
    function = getattr(item, "function", None)
    try:
        source = inspect.getsource(function) if function is not None else ""
    except (OSError, TypeError):
        source = ""
    fixtures = [name.lower() for name in getattr(item, "fixturenames", ())]
    return any(word in source or any(word.lower() in name for name in fixtures)
               for word in words)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "postgresql" in callspec.params.values():
            item.add_marker(pytest.mark.postgres)
        for marker, words in _NEEDS.items():
            if _uses(item, words):
                item.add_marker(getattr(pytest.mark, marker))


def _data_files() -> dict[str, float]:
    return {str(path.relative_to(DATA)): path.stat().st_mtime
            for path in DATA.rglob("*") if path.is_file() and "__pycache__" not in path.parts}


_DATA_AT_START: dict[str, dict[str, float]] = {}


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


def make_seed_config(root: Path) -> Config:
    """The seed site's publisher.toml and issues, with output and database under root."""
    config = load_config(SITE)
    paths = PathsConfig(issues=str(SITE / "issues"), output=str(root / "public"),
                        templates=str(REPO / "templates"),
                        automations=str(root / "automations"))  # none unless a test adds them
    database = config.settings.database.model_copy(
        update={"url": f"sqlite:///{root / 'publisher.db'}"})
    settings = config.settings.model_copy(update={"paths": paths, "database": database})
    return replace(config, settings=settings, root=root)  # var/ (previews) under root too


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server on loopback (initdb + pg_ctl in a temp dir)."""
    with postgres_server() as server:
        yield server.url


@pytest.fixture(params=["sqlite", "postgresql"])
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
