"""The OpenAPI 3.1 document of the HTTP API, built from a route table and the pydantic models.

The table is passed in (``toolweaver.api.routes.openapi_document`` passes ``ROUTES``): the route
table serves this document, so this module must not import it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from pydantic import BaseModel

from toolweaver import __version__


class Operation(Protocol):
    """What the document needs of one method of a route (``routes.Operation`` has it)."""

    @property
    def summary(self) -> str: ...
    @property
    def responses(self) -> Mapping[int, str]: ...
    @property
    def body(self) -> type[BaseModel] | None: ...
    @property
    def body_types(self) -> tuple[str, ...]: ...
    @property
    def query(self) -> Mapping[str, str]: ...
    @property
    def response_type(self) -> str: ...


class Route(Protocol):
    """What the document needs of one route (``routes.Route`` has it)."""

    @property
    def function_name(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def operations(self) -> Mapping[str, Operation]: ...
    @property
    def anonymous(self) -> bool: ...
    @property
    def tag(self) -> str: ...


_PARAM = re.compile(r"\{(\w+)(?::\w+)?\??\}")
_PATH_PARAMS: dict[str, dict[str, Any]] = {
    "name": {"type": "string", "pattern": "^[a-zA-Z0-9_.-]{1,64}$"},
    "id": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
}
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
    },
}


def document(routes: Sequence[Route]) -> dict[str, Any]:
    """The document of ``routes``."""
    schemas: dict[str, Any] = {"Problem": PROBLEM_SCHEMA}
    paths: dict[str, Any] = {}
    for route in routes:
        item = paths.setdefault(_PARAM.sub(r"{\1}", f"/api/{route.path}"), {})
        for method, operation in route.operations.items():
            item[method.lower()] = _operation(route, method, operation, schemas)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ToolWeaver",
            "version": __version__,
            "description": "Find and run tools from large catalogs. Errors are application/problem+json.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "functionKey": {"type": "apiKey", "in": "header", "name": "x-functions-key"},
                "functionKeyQuery": {"type": "apiKey", "in": "query", "name": "code"},
            },
        },
    }


def _operation(route: Route, method: str, operation: Operation, schemas: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "operationId": f"{route.function_name}_{method.lower()}",
        "summary": operation.summary,
        "tags": [route.tag],
        "security": [] if route.anonymous else [{"functionKey": []}, {"functionKeyQuery": []}],
        "parameters": _parameters(route, operation),
        "responses": _responses(operation, limited=not route.anonymous),
    }
    if operation.body is not None:
        schema = operation.body.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[operation.body.__name__] = schema
        ref = {"$ref": f"#/components/schemas/{operation.body.__name__}"}
        spec["requestBody"] = {
            "required": True,
            "content": {t: {"schema": ref} for t in operation.body_types},
        }
    elif method in ("POST", "PUT"):
        any_document = {"schema": {"type": "object"}}
        spec["requestBody"] = {"required": True, "content": dict.fromkeys(operation.body_types, any_document)}
    return spec


def _parameters(route: Route, operation: Operation) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": _PATH_PARAMS.get(name, {"type": "string"})}
        for name in _PARAM.findall(route.path)
    ]
    params += [
        {"name": name, "in": "query", "required": False, "description": text, "schema": {"type": "string"}}
        for name, text in operation.query.items()
    ]
    return params


def _responses(operation: Operation, *, limited: bool) -> dict[str, Any]:
    problem = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    responses: dict[str, Any] = {}
    if limited:
        responses["429"] = {
            "description": "more requests from this caller than REQUESTS_PER_MINUTE or REQUESTS_PER_HOUR",
            "headers": {
                "Retry-After": {
                    "description": "seconds until the window opens",
                    "schema": {"type": "integer"},
                }
            },
            "content": problem,
        }
    for status, text in operation.responses.items():
        if status == 204:
            responses[str(status)] = {"description": text}
        elif status >= 400:
            responses[str(status)] = {"description": text, "content": problem}
        else:
            responses[str(status)] = {
                "description": text,
                "content": {operation.response_type: {"schema": {}}},
            }
    responses["default"] = {"description": "an error, as RFC 9457 problem details", "content": problem}
    return responses
