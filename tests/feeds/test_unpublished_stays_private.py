"""Drafts and future issues never reach the published tree: not on disk, not over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from publisher.commands.context import Context
from publisher.commands.issues import preview_command
from publisher.config import Config, PathsConfig, Secrets
from publisher.errors import ConfigError
from publisher.site.build import build_site, email_paths, preview_dir
from publisher.web.app import create_app
from publisher.web.state import WebState
from tests import web_client
from tests.conftest import LiveServer
from tests.feeds.helpers import private_site, write_issue

NOW = datetime(2026, 1, 1, tzinfo=UTC)
DRAFT_SENTENCE = "The walrus committee meets at midnight behind the lighthouse."
FUTURE_SENTENCE = "Quarterly pelican migration figures beat every forecast."
SECRETS = Secrets(secret_keys=("k" * 32,))


def site(seed_config: Config, tmp_path: Path) -> Config:
    """The seed site plus a draft and an issue dated after NOW, rooted in tmp_path."""
    config = replace(private_site(seed_config, tmp_path), root=tmp_path)
    draft = write_issue(config.issues_dir, "secret-draft", 6, extra="draft: true\n")
    future = write_issue(config.issues_dir, "secret-future", 7)
    draft.write_text(draft.read_text() + f"\n{DRAFT_SENTENCE}\n")
    future.write_text(future.read_text().replace("2024-05-07", "2030-05-07")
                      + f"\n{FUTURE_SENTENCE}\n")
    return config


def leaks(folder: Path) -> list[Path]:
    """Every file under folder holding a byte sequence of either unpublished issue."""
    secrets = [s.encode() for s in (DRAFT_SENTENCE, FUTURE_SENTENCE, "secret-draft",
                                    "secret-future")]
    return [path for path in folder.rglob("*")
            if path.is_file() and any(s in path.read_bytes() for s in secrets)]


@pytest.fixture
def config(seed_config: Config, tmp_path: Path) -> Config:
    return site(seed_config, tmp_path)


def test_a_draft_and_a_future_issue_leave_no_byte_under_public(config: Config) -> None:
    report = build_site(config, NOW)
    assert {"secret-draft", "secret-future"} <= set(report.rendered)
    assert (config.output_dir / "feed.atom").exists()
    assert leaks(config.output_dir) == []
    for slug, sentence in (("secret-draft", DRAFT_SENTENCE), ("secret-future", FUTURE_SENTENCE)):
        html, text = email_paths(preview_dir(config), slug)
        assert html.is_relative_to(config.root / "var" / "preview")
        assert sentence in text.read_text(encoding="utf-8")
        assert html.exists()


def test_an_issue_that_is_no_longer_published_is_removed_from_public(config: Config) -> None:
    build_site(config, datetime(2031, 1, 1, tzinfo=UTC))  # the future issue was out then
    assert leaks(config.output_dir)  # its page, email, feed entry and cached text
    build_site(config, NOW)  # the date was moved back: it is a future issue again
    assert leaks(config.output_dir) == []
    assert not (config.output_dir / "issues" / "secret-future").exists()


def test_no_one_who_guesses_an_unpublished_slug_gets_anything_over_http(config: Config) -> None:
    build_site(config, NOW)
    files = [p.relative_to(config.output_dir).as_posix()
             for p in config.output_dir.rglob("*") if p.is_file()]
    guesses = [f"/{kind}issues/{slug}/{name}" for kind in ("", "preview/")
               for slug in ("secret-draft", "secret-future")
               for name in ("", "index.html", "email.html", "email.txt")]
    with LiveServer(create_app(WebState(config, SECRETS))) as live, \
            web_client.Client(base_url=live.url) as client:
        for guess in guesses:
            assert client.get(guess).status_code == 404, guess
        for name in files:
            response = client.get("/" + name)
            assert DRAFT_SENTENCE not in response.text
            assert FUTURE_SENTENCE not in response.text
        assert client.get("/issues/2024-06-first-half/").status_code == 200


def test_preview_writes_to_the_private_folder_and_refuses_the_public_one(
    config: Config,
) -> None:
    draft = config.issues_dir / "secret-draft.md"
    result = CliRunner().invoke(preview_command, [str(draft)], obj=Context(config))
    assert result.exit_code == 0, result.output
    html, _ = email_paths(config.root / "var" / "preview", "secret-draft")
    assert result.output.splitlines()[0] == str(html)
    assert DRAFT_SENTENCE in html.read_text(encoding="utf-8")
    refused = CliRunner().invoke(preview_command,
                                 [str(draft), "--out", str(config.output_dir / "preview")],
                                 obj=Context(config))
    assert refused.exit_code == 2 and "inside the output directory" in refused.output
    assert not config.output_dir.exists() or leaks(config.output_dir) == []


def test_an_output_directory_holding_the_preview_folder_is_refused_and_not_served(
    config: Config,
) -> None:
    paths = PathsConfig(issues=str(config.issues_dir), output=str(config.root / "var"),
                        templates=config.settings.paths.templates)
    exposed = replace(config, settings=config.settings.model_copy(update={"paths": paths}))
    with pytest.raises(ConfigError, match="paths.output"):
        build_site(exposed, NOW)
    email, _ = email_paths(preview_dir(exposed), "secret-draft")
    email.parent.mkdir(parents=True)
    email.write_text(DRAFT_SENTENCE, encoding="utf-8")
    with LiveServer(create_app(WebState(exposed, SECRETS))) as live:
        preview = web_client.get(live.url + "/preview/issues/secret-draft/email.html")
        assert preview.status_code == 404


@pytest.fixture(autouse=True)
def _no_repo_writes(config: Config) -> Iterator[None]:
    """These tests run rooted in tmp_path: nothing may land in the repository's var/."""
    assert config.root != Path(__file__).resolve().parents[2]
    yield
