"""A send's snapshot with an audience is exactly the confirmed subscribers the expression
matches in Python, on SQLite and on PostgreSQL; a bad expression writes nothing."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from publisher.config import Config
from publisher.content.audience_expressions import matches, parse
from publisher.db import deliveries, open_database, sends
from publisher.errors import IssueFileError, SendError
from publisher.sending import send_issue
from publisher.sending.recipients import audience_of
from publisher.subscribers import audience_sql
from tests.audience.helpers import random_subscribers, with_tags
from tests.conftest import SEED_ISSUE
from tests.sending.helpers import T0

SUBSCRIBERS = 10_000
EXPRESSIONS = (
    "llm",
    "not llm",
    "llm and not weekly-off",
    "llm or agents",
    "(llm or agents) and 中文",
    "not (llm or agents)",
    "llm and agents and vision",
    "not not vision",
    "中文 or vision and not o'reilly",
    "(中文 or vision) and not o'reilly",
    "not llm and not agents or weekly-off",
    "o'reilly and (vision or (llm and not 中文))",
)


@pytest.fixture
def populated(database_url: str) -> tuple[Engine, dict[int, set[str]]]:
    engine = open_database(database_url)
    return engine, random_subscribers(engine, SUBSCRIBERS)


def snapshot(engine: Engine, send_id: int) -> set[int]:
    with engine.connect() as conn:
        return set(conn.execute(sa.select(deliveries.c.subscriber_id)
                                .where(deliveries.c.send_id == send_id)).scalars())


def rows_in(engine: Engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (conn.execute(sa.select(sa.func.count()).select_from(sends)).scalar_one(),
                conn.execute(sa.select(sa.func.count()).select_from(deliveries)).scalar_one())


def test_each_snapshot_is_the_set_the_expression_matches_in_python(
        seed_config: Config, database_url: str,
        populated: tuple[Engine, dict[int, set[str]]]) -> None:
    engine, confirmed = populated
    config = with_tags(seed_config, database_url)
    item = send_issue.ready(config, SEED_ISSUE)
    sizes = []
    for number, text in enumerate(EXPRESSIONS):
        expected = {sid for sid, tags in confirmed.items() if matches(parse(text), tags)}
        # One issue slug per send: the seed issue under a new name each time.
        renamed = send_issue.Ready(item.issue, replace(item.rendered, slug=f"audience-{number}"))
        send_id = send_issue.start(engine, config, renamed, T0, audience=text)
        assert snapshot(engine, send_id) == expected, text
        assert audience_sql.count(engine, parse(text)) == len(expected), text
        sizes.append(len(expected))
    assert all(0 < size < len(confirmed) for size in sizes)  # every expression discriminates
    with engine.connect() as conn:
        recorded = conn.execute(sa.select(sends.c.audience).order_by(sends.c.id)).scalars()
        assert list(recorded) == [str(parse(text)) for text in EXPRESSIONS]


@pytest.mark.parametrize(("override", "error"), [
    ("llm and", "audience 'llm and': column 8: expected a tag, `lang:<language>`, `not` or "
                "`(` but the expression ended"),
    ("llm and not robots", "audience 'llm and not robots': unknown tag 'robots'; known tags: "),
])
def test_a_bad_expression_is_refused_before_any_row_is_written(
        seed_config: Config, database_url: str, populated: tuple[Engine, dict[int, set[str]]],
        override: str, error: str) -> None:
    engine, _confirmed = populated
    config = with_tags(seed_config, database_url)
    item = send_issue.ready(config, SEED_ISSUE)
    with pytest.raises(SendError) as caught:
        send_issue.start(engine, config, item, T0, audience=override)
    assert str(caught.value.message).startswith(error)
    assert rows_in(engine) == (0, 0)


def test_an_issue_naming_an_unknown_tag_is_refused_by_the_check_before_any_row(
        seed_config: Config, tmp_path: Path) -> None:
    text = SEED_ISSUE.read_text(encoding="utf-8").replace(
        "\ntitle:", "\naudience: llm and robots\ntitle:", 1)
    issue = tmp_path / "issues" / SEED_ISSUE.name
    issue.parent.mkdir()
    issue.write_text(text, encoding="utf-8")
    config = with_tags(seed_config, f"sqlite:///{tmp_path / 'publisher.db'}")
    with pytest.raises(IssueFileError) as caught:
        send_issue.ready(config, issue)
    assert f"{issue}:2: audience: unknown tag 'robots'; known tags: " in str(caught.value)


def test_the_issues_own_audience_is_used_unless_overridden(
        seed_config: Config, tmp_path: Path) -> None:
    text = SEED_ISSUE.read_text(encoding="utf-8").replace(
        "\ntitle:", "\naudience: (llm)  and not weekly-off\ntitle:", 1)
    issue = tmp_path / SEED_ISSUE.name
    issue.write_text(text, encoding="utf-8")
    config = with_tags(seed_config, f"sqlite:///{tmp_path / 'publisher.db'}")
    item = send_issue.ready(config, issue)
    own = audience_of(item.issue, config)
    assert own is not None and own.expression == "llm and not weekly-off"
    overridden = audience_of(item.issue, config, "中文")
    assert overridden is not None and overridden.expression == "中文"
    assert audience_of(send_issue.ready(config, SEED_ISSUE).issue, config) is None
