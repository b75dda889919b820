"""Long audiences: a chain of hundreds of terms is one node that reaches the database as
one flat OR; nesting beyond MAX_NESTING (300 `not`s, 1,200 parentheses) and more than
MAX_TAGS tags are refused with their column by `check`, `send` and the daemon alike, and
the daemon goes on with every other issue."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa

from publisher.config import Config
from publisher.content.audience_expressions import (
    MAX_NESTING,
    MAX_TAGS,
    AudienceSyntaxError,
    Or,
    matches,
    parse,
    tags_in,
)
from publisher.content.issues import read_issue
from publisher.db import open_database, sends
from publisher.dev.catcher import Catcher
from publisher.sending.daemon import Daemon
from publisher.subscribers import audience_sql
from tests.audience.helpers import TAGS, random_subscribers, with_tags
from tests.cli import run_publisher_here
from tests.conftest import DATA, DATABASES
from tests.sending.helpers import SECRETS, T0, smtp_site, write_config_file
from tests.servers import free_port

OR_400 = DATA / "audiences" / "or_400_terms.md"
TOO_DEEP = DATA / "issues" / "audience_too_deep.md"  # 1,200 parentheses around one tag
TOO_MANY_NOTS = DATA / "issues" / "audience_too_many_nots.md"  # 300 `not`s
DEEP_MESSAGE = f"nests too deep: at most {MAX_NESTING} `not`s and `(`s may be open at once"


def worst_nesting(levels: int) -> str:
    """`a or b and (…)` nested `levels` deep: the shape that costs SQLite's parser most."""
    text = "vision"
    for _ in range(levels):
        text = f"llm or agents and ({text})"
    return text


def test_a_chain_of_400_or_terms_is_one_node_that_reads_back_as_itself() -> None:
    text = read_issue(OR_400).meta.audience
    assert text is not None
    expr = parse(text)
    assert isinstance(expr, Or) and len(expr.operands) == 400
    assert str(expr) == text
    assert parse(str(expr)) == expr
    assert tags_in(expr) == ["llm", "agents", "weekly-off", "中文", "vision"]
    assert matches(expr, {"vision"}) and not matches(expr, {"o'reilly"})


@pytest.mark.parametrize(("text", "column", "message"), [
    ("not " * 300 + "llm", 4 * MAX_NESTING + 1, f"`not` {DEEP_MESSAGE}"),
    ("(" * 600 + "llm" + ")" * 600, MAX_NESTING + 1, f"`(` {DEEP_MESSAGE}"),
    ("not (" * 7 + "llm" + ")" * 7, 5 * 6 + 1, f"`not` {DEEP_MESSAGE}"),
    (worst_nesting(MAX_NESTING + 1), 19 * (MAX_NESTING + 1), f"`(` {DEEP_MESSAGE}"),
    (" or ".join(["llm"] * (MAX_TAGS + 1)), 7 * MAX_TAGS + 1,
     f"too many tags: an audience names at most {MAX_TAGS}"),
])
def test_nesting_or_tags_beyond_the_limits_are_refused_at_the_token_that_crosses_them(
        text: str, column: int, message: str) -> None:
    with pytest.raises(AudienceSyntaxError) as caught:
        parse(text)
    assert str(caught.value) == f"column {column}: {message}"


@pytest.mark.parametrize("database_url", DATABASES, indirect=True)
def test_the_longest_and_deepest_expressions_allowed_run_in_the_database(
        seed_config: Config, database_url: str) -> None:
    engine = open_database(with_tags(seed_config, database_url).database_url)
    confirmed = random_subscribers(engine, 300)
    widest = " or ".join(TAGS[n % len(TAGS)] for n in range(MAX_TAGS))
    for text in (widest, worst_nesting(MAX_NESTING), "not " * MAX_NESTING + "llm",
                 "not (" * (MAX_NESTING // 2) + "llm" + ")" * (MAX_NESTING // 2)):
        expr = parse(text)
        expected = sum(matches(expr, tags) for tags in confirmed.values())
        assert audience_sql.count(engine, expr) == expected, text[:60]


def test_send_refuses_a_too_deep_audience_with_its_location_and_no_traceback(
        tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'publisher.db'}"
    declared = ", ".join(f'"{tag}"' for tag in TAGS)
    config = write_config_file(tmp_path, free_port(), url, f"[audience]\ntags = [{declared}]\n")
    random_subscribers(open_database(url), 50)
    for path, line in ((TOO_DEEP, f"column {MAX_NESTING + 1}: `(`"),
                       (TOO_MANY_NOTS, f"column {4 * MAX_NESTING + 1}: `not`")):
        result = run_publisher_here(config, "send", str(path), "--dry-run")
        assert result.returncode == 1, result.stderr
        assert f"{path.name}:4: audience: {line} {DEEP_MESSAGE}" in result.stderr
        assert "Traceback" not in result.stderr + result.stdout
    wide = run_publisher_here(config, "send", str(OR_400), "--dry-run")
    assert wide.returncode == 0, wide.stderr
    assert "would send to " in wide.stdout


def test_the_daemon_refuses_a_too_deep_issue_and_sends_the_others(
        seed_config: Config, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = tmp_path / "issues"
    folder.mkdir()
    for path in (TOO_DEEP, TOO_MANY_NOTS, OR_400):
        shutil.copy(path, folder / path.name)
    url = f"sqlite:///{tmp_path / 'publisher.db'}"
    with Catcher(tmp_path / "Maildir") as catcher:
        config = smtp_site(with_tags(seed_config, url), catcher.controller.port)
        paths = config.settings.paths.model_copy(update={"issues": str(folder)})
        config = replace(config, settings=config.settings.model_copy(update={"paths": paths}))
        engine = open_database(url)
        confirmed = random_subscribers(engine, 40)
        reached = sum(matches(parse(str(read_issue(OR_400).meta.audience)), tags)
                      for tags in confirmed.values())
        daemon = Daemon(config, SECRETS, engine, lambda: T0)
        with caplog.at_level(logging.INFO, logger="publisher"):
            daemon.tick()
            daemon.tick()  # said once, not at every tick
        assert len(catcher.messages()) == reached > 0
    events = [json.loads(record.getMessage()) for record in caplog.records]
    refused = [e for e in events if e["event"] == "send_refused"]
    assert sorted(e["issue"] for e in refused) == [TOO_DEEP.name, TOO_MANY_NOTS.name]
    assert all(DEEP_MESSAGE in e["error"] for e in refused)
    with engine.connect() as conn:
        assert conn.execute(sa.select(sends.c.issue_slug)).scalars().all() == ["or-400-terms"]
