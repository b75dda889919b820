"""Requests per second of the click route (`/l/<token>`) of a real `publisher serve` on
loopback, against the 2,000 req/s target; then whether every click answered was counted.

The seed issue is started as a send with `[analytics] clicks = true` (no reader: only its
links are needed), `publisher serve` runs in its own process, and the load comes from
`wrk` (Debian's `wrk`, keep-alive, 2 threads) when it is installed, else from an httpx
async client with keep-alive connections.

    python bench/clicks.py [--seconds 10] [--connections 32]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from publisher.analytics import figures  # noqa: E402
from publisher.config import load_config  # noqa: E402
from publisher.db import open_database  # noqa: E402
from publisher.sending.send_issue import ready, start  # noqa: E402
from publisher.tokens import TokenSigner, link_token  # noqa: E402
from tests.conftest import SEED_ISSUE  # noqa: E402
from tests.sending.helpers import write_config_file  # noqa: E402

TARGET = 2000.0  # requests per second
SECRET = "bench-secret-key-0123456789"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(port: int, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("publisher serve did not start")


def _wrk(url: str, seconds: int, connections: int) -> tuple[float, int]:
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", url],
                         capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])  # type: ignore[index]
    total = int(re.search(r"(\d+) requests in", out)[1])  # type: ignore[index]
    non_3xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if non_3xx:
        raise RuntimeError(f"{non_3xx[1]} answers were not redirects")
    return rate, total


async def _httpx(url: str, seconds: int, connections: int) -> tuple[float, int]:
    done = 0
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(limits=limits) as client:
        end = time.monotonic() + seconds

        async def one_connection() -> None:
            nonlocal done
            while time.monotonic() < end:
                answer = await client.get(url)
                if answer.status_code != 302:
                    raise RuntimeError(f"answered {answer.status_code}")
                done += 1

        began = time.monotonic()
        await asyncio.gather(*(one_connection() for _ in range(connections)))
        return done / (time.monotonic() - began), done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-clicks-"))
    path = write_config_file(folder, 2525, f"sqlite:///{folder / 'publisher.db'}",
                             extra="[analytics]\nclicks = true\n")
    config = load_config(folder)
    engine = open_database(config.database_url)
    send_id = start(engine, config, ready(config, SEED_ISSUE), datetime.now(UTC))
    token = link_token(TokenSigner((SECRET,)), send_id, 1)
    port = _free_port()
    server = subprocess.Popen(
        [str(Path(sys.executable).with_name("publisher")), "--config", str(path), "serve",
         "--port", str(port)],
        env={**os.environ, "PUBLISHER_SECRET_KEY": SECRET}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        _wait_for(port)
        url = f"http://127.0.0.1:{port}/l/{token}"
        tool = "wrk" if shutil.which("wrk") else "httpx"
        rate, total = (_wrk(url, args.seconds, args.connections) if tool == "wrk"
                       else asyncio.run(_httpx(url, args.seconds, args.connections)))
    finally:
        server.terminate()
        server.wait(timeout=30)
    counted = sum(c.clicks + c.prefetches for c in figures.clicks_of_send(engine, send_id))
    verdict = "meets" if rate >= TARGET else "MISSES"
    print(f"/l/ redirects ({tool}, {args.connections} keep-alive connections, "  # noqa: T201
          f"{args.seconds} s): {rate:,.0f} req/s, {verdict} the {TARGET:,.0f} req/s target; "
          f"{total:,} answered to wrk, {counted:,} counted (the server also answers the "
          "requests in flight when the client stops)")
    engine.dispose()
    shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
