"""What real use broke in sending: a 5xx that never made anyone `bounced`, `send --wait`
that did not wait, and a daemon that mailed every back issue of a migrated archive."""

from __future__ import annotations

import json
import logging
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from publisher.config import Config
from publisher.db import open_database, subscriber_table
from publisher.sending import outbox
from publisher.sending.daemon import Daemon
from publisher.sending.drain import options_from
from publisher.sending.send_issue import ready, run_send, start
from tests.cli import run_publisher_here
from tests.conftest import SEED_ISSUE
from tests.feeds.helpers import private_site, write_issue
from tests.sending.faulty_smtp import FaultySMTP
from tests.sending.helpers import SECRETS, T0, add_confirmed, database, smtp_site, write_config_file


def standing(engine: sa.engine.Engine, email: str) -> tuple[str, int]:
    """A subscriber's status and bounce count."""
    c = subscriber_table.c
    with engine.connect() as conn:
        row = conn.execute(sa.select(c.status, c.bounce_count).where(c.email == email)).one()
    return str(row.status), int(row.bounce_count)


def test_a_5xx_at_send_time_makes_the_subscriber_bounced_and_the_next_issue_skips_them(
    seed_config: Config, tmp_path: Path
) -> None:
    site = private_site(seed_config, tmp_path)
    write_issue(site.issues_dir, "next", 20)
    with FaultySMTP(lambda r, a: "550" if r.startswith("u1@") else "ok") as server:
        config = smtp_site(site, server.port)  # hard_bounce_threshold = 1 (the default)
        engine = database(config)
        add_confirmed(engine, 3)
        first = start(engine, config, ready(config, SEED_ISSUE), T0)
        run_send(engine, config, SECRETS, first, lambda: T0, options_from(config))
        assert standing(engine, "u1@example.net") == ("bounced", 1)
        second = start(engine, config, ready(config, site.issues_dir / "next.md"), T0)
        run_send(engine, config, SECRETS, second, lambda: T0, options_from(config))
    assert server.attempts["u1@example.net"] == 1, "the next issue went to a bounced address"
    assert outbox.counts(engine, second)["sent"] == 2


def test_a_5xx_below_the_threshold_only_counts(seed_config: Config) -> None:
    with FaultySMTP(lambda r, a: "550" if r.startswith("u1@") else "ok") as server:
        config = smtp_site(seed_config, server.port)
        bounces = config.settings.bounces.model_copy(update={"hard_bounce_threshold": 2})
        config = type(config)(config.settings.model_copy(update={"bounces": bounces}),
                              config.root)
        engine = database(config)
        add_confirmed(engine, 2)
        send_id = start(engine, config, ready(config, SEED_ISSUE), T0)
        run_send(engine, config, SECRETS, send_id, lambda: T0, options_from(config))
    assert standing(engine, "u1@example.net") == ("confirmed", 1)


def test_send_wait_returns_only_when_no_row_is_queued_sending_or_deferred(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'publisher.db'}"
    engine = open_database(url)
    add_confirmed(engine, 30)
    with FaultySMTP(lambda r, a: "451" if a == 1 else "ok") as server:
        config = write_config_file(tmp_path, server.port, url, backoff_base_seconds=1,
                                   backoff_max_seconds=2, max_attempts=4)
        began = time.monotonic()
        done = run_publisher_here(config, "send", "2024-06-first-half", "--yes", "--wait")
        took = time.monotonic() - began
    assert done.returncode == 0, done.stderr[-3000:]
    assert "sent=30" in done.stdout and "deferred=0" in done.stdout, done.stdout
    assert "left" not in done.stdout
    assert sum(server.delivered.values()) == 30
    assert took >= 0.8, "every first attempt was deferred by about a second"


def _events(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, object]]:
    found = []
    for record in caplog.records:
        line = record.getMessage()
        if line.startswith("{") and json.loads(line)["event"] == name:
            found.append(json.loads(line))
    return found


def test_the_daemon_leaves_the_back_issues_of_a_migrated_archive_and_status_names_them(
    seed_config: Config, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    site = private_site(seed_config, tmp_path)
    for year in (2020, 2021, 2022):
        write_issue(site.issues_dir, f"back-{year}", 1,
                    extra=f"send_at: {year}-03-01T09:00:00+00:00\n")
    seed_due = datetime(2024, 6, 16, 1, 0, tzinfo=UTC)
    caplog.set_level(logging.INFO, logger="publisher")
    with FaultySMTP(lambda r, a: "ok") as server:
        config = smtp_site(site, server.port)
        engine = database(config)
        add_confirmed(engine, 4)
        daemon = Daemon(config, SECRETS, engine, lambda: seed_due + timedelta(hours=1))
        daemon.tick()
        daemon.tick()
    assert outbox.send_slugs(engine) == {"2024-06-first-half"}
    assert sum(server.delivered.values()) == 4
    missed = sorted(str(e["issue"]) for e in _events(caplog, "send_missed"))
    assert missed == ["back-2020", "back-2021", "back-2022"], "each logged once"
    config_file = write_config_file(tmp_path / "cli", 25, config.database_url)
    text = config_file.read_text(encoding="utf-8").replace(
        f'issues = "{Path(__file__).resolve().parents[1] / "data" / "site" / "issues"}"',
        f'issues = "{site.issues_dir}"')
    config_file.write_text(text, encoding="utf-8")
    status = run_publisher_here(config_file, "status", env=dict(os.environ))
    assert status.returncode == 0, status.stderr
    for year in (2020, 2021, 2022):
        assert f"missed   back-{year}: send_at {year}-03-01T09:00:00+00:00" in status.stdout


def test_a_daemon_restarted_after_a_month_does_not_mail_what_fell_due_meanwhile(
    seed_config: Config, tmp_path: Path
) -> None:
    site = private_site(seed_config, tmp_path)
    write_issue(site.issues_dir, "july", 2, extra="send_at: 2024-07-01T09:00:00+00:00\n")
    with FaultySMTP(lambda r, a: "ok") as server:
        config = smtp_site(site, server.port)
        engine = database(config)
        add_confirmed(engine, 2)
        Daemon(config, SECRETS, engine, lambda: T0 + timedelta(hours=2)).tick()
        back = datetime(2024, 8, 1, tzinfo=UTC)  # stopped for a month, then started again
        Daemon(config, SECRETS, engine, lambda: back).tick()
    assert outbox.send_slugs(engine) == {"2024-06-first-half"}
    assert sum(server.delivered.values()) == 2
