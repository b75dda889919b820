"""Prometheus /metrics: a real worker serves what the database holds; off unless configured;
loopback unless allowed; a database that cannot be read is a figure, not an error page."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import Engine

from publisher.config import Config, metrics_address, parse_settings
from publisher.db import deliveries, open_database, subscriber_events
from publisher.errors import ConfigError
from publisher.sending import control, metrics, outbox
from publisher.sending.send_issue import ready, start
from publisher.subscribers import store
from tests import web_client
from tests.cli import CLI_ENV, cli_command, run_publisher_here
from tests.conftest import SEED_ISSUE
from tests.feeds.helpers import private_site, write_issue
from tests.sending.faulty_smtp import FaultySMTP
from tests.sending.helpers import T0, add_confirmed, database, write_config_file
from tests.servers import free_port

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(url: str) -> Samples:
    """GET /metrics and parse it as Prometheus does: {(sample name, labels): value}."""
    response = web_client.get(url, timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.text)
            for sample in family.samples}


def labelled(samples: Samples, name: str, label: str) -> dict[str, float]:
    return {dict(labels)[label]: value for (sample, labels), value in samples.items()
            if sample == name}


def listening_ports(pid: int) -> set[int]:
    """The TCP ports a process listens on: its socket inodes matched in /proc/net/tcp{,6}."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except FileNotFoundError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # 0A: LISTEN
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


@contextmanager
def running(argv: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A `publisher run …` subprocess, logging to a file; SIGTERM and wait at the end."""
    with log.open("wb") as err:
        process = subprocess.Popen(argv, env=CLI_ENV, stderr=err)
        try:
            yield process
        finally:
            process.terminate()
            process.wait(timeout=30)


def wait_for(condition: Callable[[], bool], what: str, process: subprocess.Popen[bytes],
             log: Path) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert process.poll() is None, f"exited: {log.read_text()[-2000:]}"
        assert time.monotonic() < deadline, f"no {what} after 60 s: {log.read_text()[-2000:]}"
        time.sleep(0.1)


def database_figures(engine: Engine, send_id: int) -> dict[str, object]:
    """The same figures as /metrics, read by the test straight from the tables."""
    with engine.connect() as conn:
        replies = conn.execute(sa.select(deliveries.c.last_reply)).scalars().all()
        events = conn.execute(sa.select(subscriber_events.c.event)).scalars().all()
    classes = {"2xx": 0, "4xx": 0, "5xx": 0, "none": 0}
    for reply in replies:
        classes[f"{reply[0]}xx" if reply and reply[0] in "245" else "none"] += 1
    return {"deliveries": outbox.counts(engine, send_id), "replies": classes,
            "subscribers": store.stats(engine), "bounces": events.count("bounced"),
            "complaints": events.count("complained")}


def test_a_worker_serves_metrics_equal_to_the_database_after_a_real_send(
    tmp_path: Path,
) -> None:
    database_url = f"sqlite:///{tmp_path / 'publisher.db'}"
    engine = open_database(database_url)
    add_confirmed(engine, 12)  # u10 is refused for good (550), u11 for now (451)
    rule = {"u10@example.net": "550", "u11@example.net": "451"}
    port = free_port()
    with FaultySMTP(lambda recipient, _attempt: rule.get(recipient, "ok")) as server:
        config = write_config_file(tmp_path, server.port, database_url,
                                   f'[metrics]\nlisten = "127.0.0.1:{port}"\n',
                                   backoff_base_seconds=3600)  # the 451 stays deferred
        sent = run_publisher_here(config, "send", "2024-06-first-half", "--yes")
        assert sent.returncode == 0, sent.stderr[-2000:]
        send_id = outbox.require_send(engine, "2024-06-first-half")
        with engine.begin() as conn:  # a reader reports the issue as spam
            store.mark_complained(conn, 3, T0, {"via": "test"})
        before = datetime.now(UTC).timestamp()
        log = tmp_path / "worker.log"
        argv = cli_command(config, "run", "--worker", "--interval", "1")
        with running(argv, log) as worker:
            wait_for(lambda: '"drained"' in log.read_text(), "tick", worker, log)
            samples = scrape(f"http://127.0.0.1:{port}/metrics")
            assert listening_ports(worker.pid) == {port}
            second = subprocess.run(argv, env=CLI_ENV, capture_output=True, timeout=60)
    expected = database_figures(engine, send_id)
    assert expected["deliveries"] == {"queued": 0, "sending": 0, "sent": 10, "deferred": 1,
                                      "failed": 1, "cancelled": 0}
    assert labelled(samples, "publisher_deliveries", "state") == expected["deliveries"]
    assert labelled(samples, "publisher_smtp_replies", "class") == expected["replies"] == {
        "2xx": 10, "4xx": 1, "5xx": 1, "none": 0}
    assert samples[("publisher_messages_sent_total", ())] == 10
    assert samples[("publisher_queue_depth", ())] == 0  # the deferred row is not due
    assert samples[("publisher_oldest_due_age_seconds", ())] == 0
    assert labelled(samples, "publisher_subscribers", "status") == expected["subscribers"]
    assert expected["subscribers"]["bounced"] == expected["subscribers"]["complained"] == 1
    assert samples[("publisher_bounces_total", ())] == expected["bounces"] == 1
    assert samples[("publisher_complaints_total", ())] == expected["complaints"] == 1
    assert samples[("publisher_database_up", ())] == 1
    tick = samples[("publisher_scheduler_last_tick_timestamp_seconds", ())]
    assert before <= tick <= datetime.now(UTC).timestamp()
    assert second.returncode == 1  # a second process on the same port says what to do
    assert (f"/metrics on 127.0.0.1:{port}: Address already in use; every process needs "
            "its own port (--metrics-listen)") in second.stderr.decode()


def test_metrics_are_off_by_default_and_a_worker_listens_on_no_port(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'publisher.db'}"
    config = write_config_file(tmp_path, free_port(), database_url)
    assert parse_settings(config.read_text()).metrics.listen == ""
    log = tmp_path / "worker.log"
    with running(cli_command(config, "run", "--worker", "--interval", "1"), log) as worker:
        engine = sa.create_engine(database_url)
        wait_for(lambda: sa.inspect(engine).has_table("schema_version"), "first tick",
                 worker, log)
        assert listening_ports(worker.pid) == set()


def test_the_command_line_gives_each_worker_its_own_port(tmp_path: Path) -> None:
    database_url = f"sqlite:///{tmp_path / 'publisher.db'}"
    config = write_config_file(tmp_path, free_port(), database_url)
    port = free_port()
    log = tmp_path / "worker.log"
    argv = cli_command(config, "run", "--worker", "--interval", "1",
                       "--metrics-listen", f"[::1]:{port}")
    url = f"http://[::1]:{port}/metrics"
    with running(argv, log) as worker:
        wait_for(lambda: port in listening_ports(worker.pid), "listener", worker, log)
        # A fresh database has no tables until the worker's first tick creates them: a
        # scrape before that says the database is not up, which is the truth.
        wait_for(lambda: scrape(url)[("publisher_database_up", ())] == 1, "schema", worker,
                 log)
        samples = scrape(url)
    assert samples[("publisher_database_up", ())] == 1
    assert labelled(samples, "publisher_deliveries", "state") == dict.fromkeys(
        outbox.STATES, 0)


@pytest.mark.parametrize("listen", ["0.0.0.0:9464", ":9464", "metrics.example.org:9464",
                                    "[2001:db8::1]:9464"])
def test_a_listen_address_beyond_loopback_is_refused_at_load_naming_the_key(
    listen: str,
) -> None:
    text = f'[site]\ntitle = "x"\n\n[metrics]\nlisten = "{listen}"\n'
    with pytest.raises(ConfigError) as refused:
        parse_settings(text)
    assert str(refused.value).startswith("publisher.toml:5: metrics.listen: Value error, ")
    assert "is not a loopback address" in str(refused.value)
    assert "set [metrics] allow_remote = true" in str(refused.value)
    allowed = parse_settings(text.replace("[metrics]\n", "[metrics]\nallow_remote = true\n"))
    assert allowed.metrics.listen == listen


@pytest.mark.parametrize("listen, address", [("127.0.0.1:9464", ("127.0.0.1", 9464)),
                                             ("localhost:1", ("localhost", 1)),
                                             ("[::1]:9464", ("::1", 9464)),
                                             ("127.0.0.2:65535", ("127.0.0.2", 65535))])
def test_loopback_addresses_are_accepted(listen: str, address: tuple[str, int]) -> None:
    assert metrics_address(listen, allow_remote=False) == address


@pytest.mark.parametrize("listen", ["9464", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000",
                                    "::1:9464", "127.0.0.1:94a"])
def test_a_listen_value_that_is_not_host_and_port_is_refused(listen: str) -> None:
    with pytest.raises(ConfigError, match=r"metrics\.listen: .* is not host:port"):
        parse_settings(f'[metrics]\nlisten = "{listen}"\n')


def test_a_remote_address_on_the_command_line_is_refused_too(tmp_path: Path) -> None:
    config = write_config_file(tmp_path, free_port(), f"sqlite:///{tmp_path / 'p.db'}")
    refused = subprocess.run(cli_command(config, "run", "--worker", "--metrics-listen",
                                         "0.0.0.0:9464"),
                             env=CLI_ENV, capture_output=True, timeout=60)
    assert refused.returncode == 2
    assert "Invalid value for --metrics-listen: 0.0.0.0 is not a loopback address" in (
        refused.stderr.decode())


def test_queue_depth_and_oldest_due_age_count_claimable_rows_of_active_sends_only(
    seed_config: Config, tmp_path: Path,
) -> None:
    site = private_site(seed_config, tmp_path)
    write_issue(site.issues_dir, "second", 20)
    engine = database(site)
    add_confirmed(engine, 5)
    active = start(engine, site, ready(site, SEED_ISSUE), T0)
    paused = start(engine, site, ready(site, site.issues_dir / "second.md"), T0)
    assert control.pause(engine, paused, T0)
    now = T0 + timedelta(minutes=10)
    snapshot = metrics.read_snapshot(engine, now)
    assert snapshot.queue_depth == 5  # the paused send's 5 rows wait, but are not due
    assert snapshot.oldest_due_age == 600
    assert snapshot.deliveries["queued"] == 10
    assert snapshot.replies == {"2xx": 0, "4xx": 0, "5xx": 0, "none": 10}
    assert snapshot.sent_total == 0
    assert outbox.counts(engine, active)["queued"] == 5


def test_a_database_that_cannot_be_read_is_database_up_0_not_an_error_page(
    tmp_path: Path,
) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'empty.db'}")  # no tables
    process = metrics.ProcessState()
    process.ticked(T0)
    port = free_port()
    server = metrics.serve("127.0.0.1", port, engine, lambda: T0, process)
    try:
        samples = scrape(f"http://127.0.0.1:{port}/metrics")
    finally:
        server.shutdown()
    assert samples == {("publisher_database_up", ()): 0,
                       ("publisher_scheduler_last_tick_timestamp_seconds", ()): T0.timestamp()}
