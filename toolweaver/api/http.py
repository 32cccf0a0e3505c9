"""Framework-neutral request and response records, and the two ways to answer: JSON or a problem."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

JSON = "application/json"
PROBLEM_JSON = "application/problem+json"


@dataclass(frozen=True)
class ApiRequest:
    method: str
    path: str
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)  # names lower-cased
    query: Mapping[str, str] = field(default_factory=dict)
    route_params: Mapping[str, str] = field(default_factory=dict)
    # Set by the face from what the platform verified (see toolweaver.api.auth), never by a header.
    operator: bool = False
    principal_roles: frozenset[str] = frozenset()

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def media_type(self) -> str:
        """The Content-Type without parameters, lower-cased ('' when absent)."""
        return (self.header("content-type") or "").split(";", 1)[0].strip().lower()


@dataclass(frozen=True)
class ApiResponse:
    status: int
    body: bytes = b""
    content_type: str = JSON
    headers: Mapping[str, str] = field(default_factory=dict)


def json_response(status: int, value: Any, headers: Mapping[str, str] | None = None) -> ApiResponse:
    body = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
    return ApiResponse(status, body, JSON, dict(headers or {}))


def problem(
    status: int, detail: str, *, headers: Mapping[str, str] | None = None, **extra: Any
) -> ApiResponse:
    """An RFC 9457 problem document of type ``about:blank``: the title is the status phrase,
    ``detail`` says what went wrong and what to do, ``extra`` members are for programs."""
    title = HTTPStatus(status).phrase
    document = {"type": "about:blank", "title": title, "status": status, "detail": detail, **extra}
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
    return ApiResponse(status, body, PROBLEM_JSON, dict(headers or {}))
