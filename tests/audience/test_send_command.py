"""`publisher send --audience` through the real CLI: the dry run counts who it would reach,
a started send keeps its audience, and `publisher report` says who a send was for."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa

from publisher.config import load_config
from publisher.content.audience_expressions import matches, parse
from publisher.db import deliveries, open_database, sends
from publisher.sending import send_issue
from tests.audience.helpers import TAGS, random_subscribers
from tests.cli import run_publisher_here
from tests.conftest import SEED_ISSUE
from tests.sending.helpers import T0, write_config_file
from tests.servers import free_port

SLUG = "2024-06-first-half"
EXPRESSION = "llm and not weekly-off"


def site(tmp_path: Path) -> tuple[Path, sa.Engine, dict[int, set[str]]]:
    url = f"sqlite:///{tmp_path / 'publisher.db'}"
    declared = ", ".join(f'"{tag}"' for tag in TAGS)
    config = write_config_file(tmp_path, free_port(), url, f"[audience]\ntags = [{declared}]\n")
    engine = open_database(url)
    return config, engine, random_subscribers(engine, 500)


def row_counts(engine: sa.Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (conn.execute(sa.select(sa.func.count()).select_from(sends)).scalar_one(),
                conn.execute(sa.select(sa.func.count()).select_from(deliveries)).scalar_one())


def test_dry_run_says_how_many_of_the_confirmed_subscribers_the_audience_reaches(
        tmp_path: Path) -> None:
    config, engine, confirmed = site(tmp_path)
    reached = sum(matches(parse(EXPRESSION), tags) for tags in confirmed.values())
    result = run_publisher_here(config, "send", SLUG, "--audience", "(llm) and not  weekly-off",
                       "--dry-run")
    assert result.returncode == 0, result.stderr
    assert (f"would send to {reached} of {len(confirmed)} confirmed subscribers: "
            f"audience `{EXPRESSION}`") in result.stdout
    assert f"to {reached} subscriber(s)" in result.stdout
    assert row_counts(engine) == (0, 0)


def test_a_bad_audience_is_refused_by_the_cli_and_writes_nothing(tmp_path: Path) -> None:
    config, engine, _confirmed = site(tmp_path)
    unknown = run_publisher_here(config, "send", SLUG, "--audience", "llm or robots", "--yes")
    assert unknown.returncode != 0
    assert "audience 'llm or robots': unknown tag 'robots'; known tags: " in unknown.stderr
    assert "中文" in unknown.stderr
    malformed = run_publisher_here(config, "send", SLUG, "--audience", "llm (agents)", "--dry-run")
    assert malformed.returncode != 0
    assert "audience 'llm (agents)': column 5: expected `and` or `or` but found `(`" \
        in malformed.stderr
    assert row_counts(engine) == (0, 0)


def test_a_started_send_keeps_its_audience_and_the_report_names_it(tmp_path: Path) -> None:
    config_file, engine, confirmed = site(tmp_path)
    config = load_config(config_file.parent, config_file)
    item = send_issue.ready(config, SEED_ISSUE)
    send_issue.start(engine, config, item, T0, audience=EXPRESSION)
    other = run_publisher_here(config_file, "send", SLUG, "--audience", "中文", "--dry-run")
    assert other.returncode != 0
    assert (f"{SLUG}: this send started with audience `{EXPRESSION}`; --audience '中文' "
            "cannot change it") in other.stderr
    same = run_publisher_here(config_file, "send", SLUG, "--audience", EXPRESSION, "--dry-run")
    assert same.returncode == 0, same.stderr
    reached = sum(matches(parse(EXPRESSION), tags) for tags in confirmed.values())
    assert f"dry run: Resume '{item.issue.title}' to {reached} subscriber(s)" in same.stdout
    report = run_publisher_here(config_file, "report", SLUG)
    assert f"audience `{EXPRESSION}`" in report.stdout, report.stderr
    as_json = json.loads(run_publisher_here(config_file, "report", SLUG, "--json").stdout)
    assert as_json["audience"] == EXPRESSION and as_json["total"] == reached
