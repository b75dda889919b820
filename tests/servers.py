"""Real servers on loopback for tests and benchmarks: started in a temp dir, stopped after."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(host: str, port: int, seconds: float = 20.0) -> None:
    """Return once something accepts connections on host:port (a server subprocess)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.create_connection((host, port), timeout=1):
                return
        except OSError as exc:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on {host}:{port} after {seconds} s") from exc
            time.sleep(0.05)


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError(f"{name} not found: install Debian's postgresql (make test does)")
    return found[-1]


class PostgresServer:
    """A throwaway PostgreSQL server on loopback (initdb + pg_ctl in a temp dir) that a
    test can stop, start and restart like an operator would."""

    def __init__(self) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="publisher-pg-"))
        self.data = self.workdir / "data"
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            shutil.chown(self.workdir, "postgres", "postgres")
            self.as_user = ["runuser", "-u", "postgres", "--"]
        self.url = f"postgresql+psycopg://publisher@127.0.0.1:{self.port}/publisher"

    def _pg(self, name: str, *args: str, check: bool = True) -> None:
        subprocess.run([*self.as_user, _pg_bin(name), *args], check=check,
                       capture_output=True)

    def init(self) -> None:
        self._pg("initdb", "-D", str(self.data), "-U", "publisher", "--auth=trust",
                 "-E", "UTF8", "--no-sync")
        self.start()
        self._pg("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "publisher",
                 "publisher")

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off")
        self._pg("pg_ctl", "-D", str(self.data), "-o", options, "-w",
                 "-l", str(self.workdir / "log"), "start")

    def stop(self, mode: str = "fast") -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, mode: str = "fast") -> None:
        """`pg_ctl restart -m fast`: every session is cut, the server is back in a moment."""
        self._pg("pg_ctl", "-D", str(self.data), "-m", mode, "-w",
                 "-l", str(self.workdir / "log"), "restart")

    def create_database(self, name: str) -> str:
        """A new empty database on this server; returns its URL."""
        self._pg("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "publisher", name)
        return self.url.rsplit("/", 1)[0] + "/" + name

    def remove(self) -> None:
        self._pg("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop", check=False)
        shutil.rmtree(self.workdir, ignore_errors=True)


@contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the length of the block, then removed."""
    server = PostgresServer()
    try:
        server.init()
        yield server
    finally:
        server.remove()


@contextmanager
def smtp_sink(*options: str) -> Iterator[int]:
    """Postfix's smtp-sink on a loopback port: accepts and discards everything, fast.
    Options go to smtp-sink (`-8`: do not offer 8BITMIME)."""
    port = free_port()
    sink = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
    process = subprocess.Popen([sink, *options, "-u", "postfix", f"127.0.0.1:{port}", "1024"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            import time

            time.sleep(0.05)
        yield port
    finally:
        process.terminate()
        process.wait(5)
