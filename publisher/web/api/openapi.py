"""The OpenAPI 3.1 document of /api/v1, generated from the operations and their pydantic
models (publisher.web.api.models): nothing here is written by hand that could drift.

Each operation lists its parameters, its body, its success answer and every problem status
it can answer (publisher.web.api.operations.Operation.problems), each a problem document.
"""

from __future__ import annotations

import copy
from functools import cache
from http import HTTPStatus
from typing import Any, Literal

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaValue, models_json_schema

from publisher.web.api.models import Problem
from publisher.web.api.operations import MAX_ID, PREFIX, Operation

REF = "#/components/schemas/{model}"
PROBLEM_MEDIA = "application/problem+json"
_HEADERS = {
    401: {"WWW-Authenticate": "Bearer"},
    429: {"Retry-After": "Seconds to wait before the next request."},
    503: {"Retry-After": "Seconds to wait while the database is away."},
}


Refs = dict[tuple[Any, str], JsonSchemaValue]  # (model, mode) -> {"$ref": …}


def _schemas(operations: list[Operation]) -> tuple[Refs, dict[str, Any]]:
    mode_of: dict[tuple[type[BaseModel], Literal["validation", "serialization"]], None] = {
        (Problem, "serialization"): None}
    for op in operations:
        if op.body is not None:
            mode_of[(op.body, "validation")] = None
        if op.response is not None:
            mode_of[(op.response, "serialization")] = None
    refs, top = models_json_schema(list(mode_of), ref_template=REF)
    return {(model, str(mode)): ref for (model, mode), ref in refs.items()}, top.get("$defs", {})


def _without_null(schema: dict[str, Any]) -> dict[str, Any]:
    """A query parameter is absent or a string: `X | None` is just X."""
    options = [s for s in schema.get("anyOf", []) if s.get("type") != "null"]
    if len(options) != 1:
        return schema
    rest = {k: v for k, v in schema.items() if k != "anyOf"}
    return {**options[0], **rest}


def _parameters(op: Operation) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if "{id}" in op.path:
        found.append({"name": "id", "in": "path", "required": True,
                      "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID}})
    if op.query is not None:
        schema = op.query.model_json_schema(ref_template=REF)
        required = set(schema.get("required", []))
        for name, prop in schema["properties"].items():
            prop = _without_null(copy.deepcopy(prop))
            prop.pop("title", None)
            found.append({"name": name, "in": "query", "required": name in required,
                          "description": prop.pop("description", ""), "schema": prop})
    return found


def _problem(status: int, problem_ref: JsonSchemaValue) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": HTTPStatus(status).phrase,
                              "content": {PROBLEM_MEDIA: {"schema": problem_ref}}}
    if status in _HEADERS:
        answer["headers"] = {name: {"description": text, "schema": {"type": "string"}}
                             for name, text in _HEADERS[status].items()}
    return answer


def _operation(op: Operation, refs: Refs) -> dict[str, Any]:
    success: dict[str, Any] = {"description": HTTPStatus(op.status).phrase}
    if op.response is not None:
        success["content"] = {"application/json": {
            "schema": refs[(op.response, "serialization")]}}
    responses = {str(op.status): success}
    responses.update({str(status): _problem(status, refs[(Problem, "serialization")])
                      for status in op.problems})
    found: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary,
                             "tags": [op.path.split("/")[1]],
                             "security": [{"bearer": []}], "responses": responses,
                             "x-scope": op.scope}
    parameters = _parameters(op)
    if parameters:
        found["parameters"] = parameters
    if op.body is not None:
        found["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": refs[(op.body, "validation")]}}}
    return found


def _document(operations: list[Operation]) -> dict[str, Any]:
    refs, schemas = _schemas(operations)
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(PREFIX + op.path, {})[op.method.lower()] = _operation(op, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": "publisher API", "version": "1",
                 "description": "Readers and sends of one publisher site. Each operation "
                                "needs a bearer token with its scope (x-scope)."},
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "A token from `publisher admin token create`."}}},
    }


@cache
def document(operations: tuple[Operation, ...]) -> dict[str, Any]:
    """The document for these operations (made once)."""
    return _document(list(operations))
