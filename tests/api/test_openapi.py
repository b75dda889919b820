"""The OpenAPI document the server serves is made from the operations and their pydantic
models: every path and method, each status an operation can answer with its problem
document, the bearer security scheme, and schemas equal to the models' own."""

from __future__ import annotations

import time
from collections.abc import Callable

from publisher.web.api import OPERATIONS
from publisher.web.api.models import Problem, SubscriberCreate
from publisher.web.api.openapi import REF
from publisher.web.api.operations import PREFIX
from tests.api.conftest import Api


def test_the_document_names_every_operation_status_and_the_security_scheme(api: Api) -> None:
    api.token()
    with api.client() as anonymous:
        document = anonymous.get("/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer",
        "description": "A token from `publisher admin token create`."}
    paths = document["paths"]
    assert {(method.upper(), path) for path, item in paths.items() for method in item} == {
        (op.method, PREFIX + op.path) for op in OPERATIONS}
    for op in OPERATIONS:
        answers = paths[PREFIX + op.path][op.method.lower()]["responses"]
        assert {"401", "403", "404", "429", "503"} <= set(answers)
        assert set(answers) == {str(op.status), *(str(s) for s in op.problems)}
        assert answers["401"]["content"] == {"application/problem+json": {
            "schema": {"$ref": "#/components/schemas/Problem"}}}
    create = paths[PREFIX + "/subscribers"]["post"]
    assert {"413", "422"} <= set(create["responses"])
    assert {"409"} <= set(paths[PREFIX + "/sends/{id}/pause"]["post"]["responses"])
    schemas = document["components"]["schemas"]
    assert schemas["SubscriberCreate"]["required"] == SubscriberCreate.model_json_schema()[
        "required"]
    assert schemas["Problem"]["properties"] == Problem.model_json_schema(
        mode="serialization", ref_template=REF)["properties"]


def test_reading_one_subscriber_over_http_is_measured(
    api: Api, report_figure: Callable[[str], None]
) -> None:
    secret = api.token()
    with api.client(secret) as client:
        assert client.post("/subscribers", json={"email": "a@example.org", "consent": {
            "at": "2026-01-01T00:00:00Z", "source": "bench"}}).status_code == 202
        for _ in range(20):  # warm up
            assert client.get("/subscribers/1").status_code == 200
        rounds = 300
        started = time.perf_counter()
        for _ in range(rounds):
            client.get("/subscribers/1")
        elapsed = time.perf_counter() - started
    report_figure(f"GET /api/v1/subscribers/{{id}} on {api.engine.dialect.name}: "
                  f"{rounds / elapsed:.0f} requests/s from one keep-alive client "
                  f"({elapsed / rounds * 1000:.1f} ms each)")
