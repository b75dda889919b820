"""docs/api.md cannot lie: each of its curl examples runs, in the page's order, against a
live server (its host and token substituted) and must succeed, and together they call
every operation of the API."""

from __future__ import annotations

import re
import subprocess

from publisher.mail.render import RenderedEmail
from publisher.sending import outbox
from publisher.web.api import OPENAPI_PATH, OPERATIONS
from publisher.web.api.operations import PREFIX
from tests.api.conftest import Api
from tests.conftest import REPO

PAGE = (REPO / "docs" / "api.md").read_text(encoding="utf-8")
HOST = "https://news.example.org"
BLOCKS = [block for block in re.findall(r"```sh\n(.*?)```", PAGE, flags=re.S)
          if "curl " in block]
# Each curl fails on an HTTP error and prints its answer on a line of its own.
PRELUDE = 'set -e\ncurl() { command curl --fail-with-body -sS "$@"; echo; }\n'
CALL = re.compile(r"curl (?:-X (\w+) )?\"?" + re.escape(HOST) + r"(/api/v1/[^\s\"?]*)")


def called() -> set[tuple[str, str]]:
    """(method, path template) of every example."""
    return {(method or "GET", re.sub(r"/\d+", "/{id}", path))
            for block in BLOCKS for method, path in CALL.findall(block)}


def test_the_examples_call_every_operation() -> None:
    operations = {(op.method, PREFIX + op.path) for op in OPERATIONS}
    assert called() == operations | {("GET", OPENAPI_PATH)}


def test_every_curl_example_of_the_api_page_succeeds_against_a_live_server(api: Api) -> None:
    rendered = RenderedEmail("2026-03-docs", "Docs", "en", "<p>x</p>", "x")
    assert outbox.start_send(api.engine, "tag:docs", rendered, api.state.clock()) == 1
    token = api.token("docs")
    for block in BLOCKS:
        done = subprocess.run(["bash", "-c", PRELUDE + block.replace(HOST, api.url)],
                              env={"PATH": "/usr/bin:/bin", "PUBLISHER_TOKEN": token},
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, (block, done.stdout, done.stderr)
