"""Webhook delivery rate: events delivered per second by publisher's webhook outbox to a
real receiver on loopback (tests/webhooks/receiver.py, answering 200 at once, in a process
of its own as a real receiver is), SQLite, one endpoint, signed with one secret; N readers
imported as confirmed make N events, then one deliverer claims, posts (up to 16 in flight)
and settles them all.

    python bench/webhooks.py [--events 5000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from publisher.config import Settings, WebhookConfig, load_config  # noqa: E402
from publisher.db import open_database  # noqa: E402
from publisher.sending import webhooks  # noqa: E402
from publisher.subscribers import store  # noqa: E402
from publisher.subscribers.addresses import normalise_address  # noqa: E402
from tests.servers import free_port, wait_for_port  # noqa: E402
from tests.webhooks.receiver import Receiver  # noqa: E402

NOW = datetime(2026, 5, 1, tzinfo=UTC)
SECRET_ENV = "PUBLISHER_BENCH_WEBHOOK_SECRET"


def serve(port: int) -> None:
    """The receiver, in its own process until terminated."""
    Receiver(port=port).start()
    threading.Event().wait()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=5000)
    args = parser.parse_args()
    os.environ[SECRET_ENV] = "bench-secret"
    port = free_port()
    receiver = multiprocessing.Process(target=serve, args=(port,), daemon=True)
    receiver.start()
    wait_for_port("127.0.0.1", port)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        hook = WebhookConfig(url=Receiver(port=port).url, events=["confirmed"],
                             secret_env=SECRET_ENV)
        config = load_config(Path(tmp))
        config = replace(config, settings=Settings(webhooks=[hook]))
        delivery = webhooks.Deliverer(open_database(url), config, lambda: NOW)
        delivery.sync()
        rows = [store.NewRow(n, normalise_address(f"r{n}@example.org"), "", ())
                for n in range(args.events)]
        with delivery.engine.begin() as conn:
            store.add_many(conn, rows, store.CONFIRMED, store.Consent("bench", NOW), NOW)
        started = time.perf_counter()
        settled, _ = delivery.run(None, time.perf_counter)
        seconds = time.perf_counter() - started
        status = webhooks.status(delivery.engine, [hook.url], NOW)[0]
    receiver.terminate()
    assert settled == args.events == status.delivered, status
    print(f"webhook events delivered: {settled} in {seconds:.2f} s = "
          f"{settled / seconds:.0f} events/s (one endpoint, up to 16 in flight, SQLite)")


if __name__ == "__main__":
    main()
