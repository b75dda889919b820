"""Real servers on loopback for tests and benchmarks: started in a temp dir, stopped after.

Every server binary (PostgreSQL, Postfix and its tools, Dovecot, SpamAssassin, Chromium) is
found through `server_binary`, which keeps two rules: a running test that uses a server must
carry its marker (`postgres`, `postfix`, `chromium`), else it fails saying so; and with
PUBLISHER_TEST_NO_SERVERS=1 nothing is found, so the quick subset is proved to need none.
"""

from __future__ import annotations

import glob
import os
import random
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    """A loopback port free now, for a server the test starts a moment later. Not one of the
    kernel's ephemeral ports (which `bind(0)` hands out): an outgoing connection (to
    PostgreSQL, to an SMTP server) may take one of those before the server binds it, and the
    server then fails with "address already in use". Chosen at random below that range, so
    that test processes running side by side (pytest-xdist) rarely pick the same one."""
    for _ in range(200):
        port = random.randrange(PORTS_FROM, _ephemeral_ports_start())
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free loopback port below the ephemeral range")


PORTS_FROM = 20000


def _ephemeral_ports_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


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


NO_SERVERS = "PUBLISHER_TEST_NO_SERVERS"
SERVERS = {"postgres": "PostgreSQL", "postfix": "Postfix", "chromium": "Chromium"}
# PostgreSQL's binaries live in Debian's versioned folder (the ones on PATH are wrappers that
# want a cluster); the others are looked for on PATH, then where Debian puts them.
_POSTGRES_BIN = "/usr/lib/postgresql/*/bin/{name}"
_SBIN = "/usr/sbin/{name}"

# The markers of the test that is running (conftest sets them around each test); None when no
# test runs (the benchmarks), where nothing is checked.
running_test_markers: set[str] | None = None


def require_marker(marker: str) -> None:
    """Fail the running test if it uses the `marker` server without carrying the marker."""
    if running_test_markers is not None and marker not in running_test_markers:
        raise RuntimeError(f"test uses {SERVERS[marker]} but is not marked {marker}: add "
                           f"@pytest.mark.{marker} (or pytest.param(..., "
                           f"marks=pytest.mark.{marker})) so the quick subset leaves it out")


def server_binary(marker: str, name: str) -> str:
    """The path of a server binary (`postgres` marker: initdb, pg_ctl…; `postfix`: postfix,
    smtp-sink, dovecot, spamassassin; `chromium`: chromium)."""
    require_marker(marker)
    if os.environ.get(NO_SERVERS) == "1":
        raise RuntimeError(f"{name}: {NO_SERVERS}=1 hides every server binary, and this test "
                           f"needs {SERVERS[marker]}")
    if marker == "postgres":
        found = max(glob.glob(_POSTGRES_BIN.format(name=name)), default=None)
    else:
        found = shutil.which(name) or next(iter(glob.glob(_SBIN.format(name=name))), None)
    if found is None:
        raise RuntimeError(f"{name} not found: install Debian's packages for "
                           f"{SERVERS[marker]} (make test does)")
    return found


def chromium_binary() -> str:
    """The Chromium that the tests drive (PUBLISHER_CHROMIUM, else Debian's), if installed."""
    from publisher.config import chromium_path

    require_marker("chromium")
    if os.environ.get(NO_SERVERS) == "1" or not Path(chromium_path()).exists():
        raise RuntimeError(f"{chromium_path()}: Chromium not found ({NO_SERVERS}="
                           f"{os.environ.get(NO_SERVERS, '')!r}); the test is marked chromium")
    return chromium_path()


def _pg_bin(name: str) -> str:
    return server_binary("postgres", name)


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
    with smtp_sink_process(*options) as (port, _pid):
        yield port


@contextmanager
def smtp_sink_process(*options: str) -> Iterator[tuple[int, int]]:
    """`smtp_sink`, with the sink's process id (benchmarks read its CPU time)."""
    port = free_port()
    sink = server_binary("postfix", "smtp-sink")
    process = subprocess.Popen([sink, *options, "-u", "postfix", f"127.0.0.1:{port}", "1024"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            import time

            time.sleep(0.05)
        yield port, process.pid
    finally:
        process.terminate()
        process.wait(5)
