"""Shared fixtures: the repo's seed edition, and real servers started on loopback."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from publisher.config import Config, PathsConfig, load_config

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
SEED_TEXT = REPO.parent / "shared" / "seeds" / "2024-06-first-half-digest.txt"
SEED_ISSUE = REPO / "issues" / "2024-06-first-half.md"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def seed_config(tmp_path: Path) -> Config:
    """The repo's publisher.toml and issues, with output and database under tmp_path."""
    config = load_config(REPO)
    paths = PathsConfig(issues=str(REPO / "issues"), output=str(tmp_path / "public"),
                        templates=str(REPO / "templates"))
    database = config.settings.database.model_copy(
        update={"url": f"sqlite:///{tmp_path / 'publisher.db'}"})
    settings = config.settings.model_copy(update={"paths": paths, "database": database})
    return replace(config, settings=settings)


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"{name} not found: install Debian's postgresql (make test does)")
    return found[-1]


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A throwaway PostgreSQL server on loopback (initdb + pg_ctl in a temp dir)."""
    workdir = Path(tempfile.mkdtemp(prefix="publisher-pg-"))
    data = workdir / "data"
    port = free_port()
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(workdir, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_user, _pg_bin("initdb"), "-D", str(data), "-U", "publisher",
                    "--auth=trust", "-E", "UTF8", "--no-sync"],
                   check=True, capture_output=True)
    options = f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run([*as_user, _pg_bin("pg_ctl"), "-D", str(data), "-o", options, "-w",
                    "-l", str(workdir / "log"), "start"], check=True, capture_output=True)
    try:
        subprocess.run([*as_user, _pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(port),
                        "-U", "publisher", "publisher"], check=True, capture_output=True)
        yield f"postgresql+psycopg://publisher@127.0.0.1:{port}/publisher"
    finally:
        subprocess.run([*as_user, _pg_bin("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(workdir, ignore_errors=True)


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
