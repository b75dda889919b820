"""schemathesis against the running server: every operation of /api/v1/openapi.json with a
write-scoped token, valid and invalid inputs generated from the document itself; 0 server
errors, 0 answers that the document does not describe (status, media type, headers, body).
On SQLite and PostgreSQL (which refuses NUL characters in text that SQLite keeps)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from publisher.mail.rendered import RenderedEmail
from publisher.sending import outbox
from tests.api.conftest import Api
from tests.sending.helpers import add_confirmed

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_headers_conformance, response_schema_conformance]
EXAMPLES = 25  # per operation and mode: the whole run stays well under a minute


def _seeded(api: Api) -> None:
    """Readers and a send for the generated ids to find (small ids come up first)."""
    add_confirmed(api.engine, 5)
    rendered = RenderedEmail("2026-03-fuzz", "Fuzzed", "en", "<p>x</p>", "x")
    outbox.start_send(api.engine, "tag:fuzz", rendered, api.state.clock())


def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_document(
    api: Api, report_figure: Callable[[str], None]
) -> None:
    _seeded(api)
    auth = {"Authorization": f"Bearer {api.token('fuzz')}"}
    schema = schemathesis.openapi.from_url(api.url + "/api/v1/openapi.json", headers=auth)
    cases = 0
    started = time.monotonic()
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the document loads whole
        operations.append(result.ok())
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @settings(max_examples=EXAMPLES, deadline=None, database=None,
                      phases=[Phase.explicit, Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=operation.as_strategy(generation_mode=mode))
            def call(case: schemathesis.Case[Any]) -> None:
                nonlocal cases
                cases += 1
                case.call_and_validate(base_url=api.url, headers=auth, checks=CHECKS)

            call()
    seconds = time.monotonic() - started
    report_figure(f"schemathesis on {api.engine.dialect.name}: {len(operations)} operations, "
                  f"{cases} cases in {seconds:.1f} s, 0 server errors, 0 schema violations")
    assert len(operations) == 12
