"""docs/api.md and the README cannot lie: each page's curl examples run, in the page's order,
against a live server (its host and token substituted) and must succeed, and together each
page's examples call every operation of the API."""

from __future__ import annotations

import re
import subprocess

import pytest

from publisher.mail.rendered import RenderedEmail
from publisher.sending import outbox
from publisher.web.api import OPENAPI_PATH, OPERATIONS
from publisher.web.api.operations import PREFIX
from tests.api.conftest import Api
from tests.conftest import REPO

HOST = "https://news.example.org"
PAGES = ["docs/api.md", "README.md"]


def curl_blocks(page: str) -> list[str]:
    """The page's shell blocks that call the API."""
    text = (REPO / page).read_text(encoding="utf-8")
    return [block for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S)
            if f"curl {HOST}" in block or f"{HOST}/api/" in block]

# Each curl fails on an HTTP error and prints its answer on a line of its own.
PRELUDE = 'set -e\ncurl() { command curl --fail-with-body -sS "$@"; echo; }\n'
CALL = re.compile(r"curl (?:-X (\w+) )?\"?" + re.escape(HOST) + r"(/api/v1/[^\s\"?]*)")


def called(page: str) -> set[tuple[str, str]]:
    """(method, path template) of every example of the page."""
    return {(method or "GET", re.sub(r"/\d+", "/{id}", path))
            for block in curl_blocks(page) for method, path in CALL.findall(block)}


@pytest.mark.parametrize("page", PAGES)
def test_the_examples_call_every_operation(page: str) -> None:
    operations = {(op.method, PREFIX + op.path) for op in OPERATIONS}
    assert called(page) == operations | {("GET", OPENAPI_PATH)}


@pytest.mark.parametrize("page", PAGES)
def test_every_curl_example_of_the_page_succeeds_against_a_live_server(
        api: Api, page: str) -> None:
    rendered = RenderedEmail("2026-03-docs", "Docs", "en", "<p>x</p>", "x")
    assert outbox.start_send(api.engine, "tag:docs", rendered, api.state.clock()) == 1
    token = api.token("docs")
    for block in curl_blocks(page):
        done = subprocess.run(["bash", "-c", PRELUDE + block.replace(HOST, api.url)],
                              env={"PATH": "/usr/bin:/bin", "PUBLISHER_TOKEN": token},
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, (block, done.stdout, done.stderr)
