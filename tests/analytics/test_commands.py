"""`publisher analytics feeds` and `publisher analytics views` print what was counted: per
feed its aggregators' latest counts and its days, per issue page its views."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from publisher.db import open_database, sends
from tests.analytics.helpers import ACCESS_LOG
from tests.cli import invoke_publisher

CONFIG = """[site]
title = "Readership"
base_url = "https://news.example.org"
timezone = "Asia/Shanghai"

[database]
url = "sqlite:///{folder}/publisher.db"
"""


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "publisher.toml"
    path.write_text(CONFIG.format(folder=tmp_path), encoding="utf-8")
    return path


def test_before_anything_is_counted_the_commands_say_so(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert invoke_publisher("analytics", "feeds", config=config).output == (
        "no feed fetch counted yet\n")
    assert invoke_publisher("analytics", "views", config=config).output == (
        "no issue page view counted yet\n")


def test_the_commands_print_the_ingested_log(tmp_path: Path) -> None:
    config = _config(tmp_path)
    assert invoke_publisher("analytics", "ingest", str(ACCESS_LOG), config=config).exit_code == 0
    feeds = invoke_publisher("analytics", "feeds", config=config)
    assert feeds.exit_code == 0, feeds.output
    assert feeds.output.splitlines() == [
        "/feed.atom",
        "  aggregators: Feedly 1234, Inoreader 3 (subscribers in all: 1237)",
        "  2026-12-07        7 fetches       2 other fetchers",
        "/feed.rss",
        "  aggregators: NewsBlur 7 (subscribers in all: 7)",
        "  2026-12-07        1 fetches       0 other fetchers",
        "/tags/llm/feed.atom",
        "  aggregators: Feedbin 8 (subscribers in all: 8)",
        "  2026-12-07        1 fetches       0 other fetchers",
    ]
    views = invoke_publisher("analytics", "views", "--periods", "1", config=config)
    assert views.output.splitlines() == ["/issues/2024-06-first-half/  2 views",
                                         "  2026-12-07        2 views"]


def test_the_report_of_a_sent_issue_gives_its_pages_views(tmp_path: Path) -> None:
    config = _config(tmp_path)
    engine = open_database(f"sqlite:///{tmp_path}/publisher.db")
    with engine.begin() as conn:
        conn.execute(sends.insert().values(
            issue_slug="2024-06-first-half", entry_id="tag:x,2024:first", subject="First",
            status="done", audience_count=0, created_at=datetime(2024, 6, 16, tzinfo=UTC)))
    engine.dispose()
    before = invoke_publisher("report", "2024-06-first-half", config=config)
    assert before.exit_code == 0, before.output
    assert "archive views" not in before.output  # none counted yet
    invoke_publisher("analytics", "ingest", str(ACCESS_LOG), config=config)
    after = invoke_publisher("report", "2024-06-first-half", config=config)
    assert after.output.endswith("archive views 2 (its page in every language; per day: "
                                 "publisher analytics views)\n")
