"""Reading request bodies: media type, size cap, parse, validate; each failure its own status."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel

from toolweaver.api.http import ApiRequest
from toolweaver.catalog.loaders import parse_yaml
from toolweaver.errors import CatalogError, RequestError

M = TypeVar("M", bound=BaseModel)
JSON_TYPES = ("application/json",)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")


def check_body(request: ApiRequest, accepted: tuple[str, ...], max_bytes: int | None) -> None:
    """Size (when ``max_bytes`` is given: dispatch has checked every body against its setting
    already), presence and media type."""
    if max_bytes is not None and len(request.body) > max_bytes:
        raise RequestError(
            f"the body has {len(request.body)} bytes; the limit here is {max_bytes}", status=413
        )
    if not request.body:
        raise RequestError(f"the request has no body: send {accepted[0]}")
    if request.media_type not in accepted:
        got = request.media_type or "no Content-Type"
        raise RequestError(f"expected Content-Type {' or '.join(accepted)}, got {got}", status=415)


def parse_json(request: ApiRequest, max_bytes: int | None = None) -> Any:
    check_body(request, JSON_TYPES, max_bytes)
    try:
        return json.loads(request.body)
    except UnicodeDecodeError:
        raise RequestError("the body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise RequestError(
            f"the body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except RecursionError:
        raise RequestError("the body is nested too deeply") from None


def parse_document(request: ApiRequest, max_bytes: int | None = None) -> Any:
    """A JSON or YAML body, by Content-Type."""
    check_body(request, JSON_TYPES + YAML_TYPES, max_bytes)
    if request.media_type in JSON_TYPES:
        return parse_json(request, max_bytes)
    try:
        return parse_yaml(request.body, "the body")
    except CatalogError as exc:  # a body that does not parse is a 400, not a catalog problem
        raise RequestError(str(exc)) from None


def parse_model(request: ApiRequest, model: type[M], max_bytes: int | None = None) -> M:
    """Validate a JSON body against ``model``; pydantic's ValidationError becomes a 422 upstream."""
    return model.model_validate(parse_json(request, max_bytes))


def query_int(request: ApiRequest, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise RequestError(f"query parameter {name} must be a whole number, got {raw[:40]!r}") from None
    if not low <= value <= high:
        raise RequestError(f"query parameter {name} must be between {low} and {high}, got {value}")
    return value


def query_bool(request: ApiRequest, name: str) -> bool:
    raw = (request.query.get(name) or "false").lower()
    if raw not in ("true", "false", "1", "0"):
        raise RequestError(f"query parameter {name} must be true or false, got {raw[:40]!r}")
    return raw in ("true", "1")
