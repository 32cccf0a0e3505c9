"""How the http backend maps arguments onto a request, and reads Retry-After (no network here)."""

from __future__ import annotations

import email.utils
import time
from typing import Any

import httpx
import pytest

from toolweaver.catalog.model import Tool
from toolweaver.execution.backends.http import build_request, retry_after_seconds
from toolweaver.execution.ports import ToolCallError


def http_tool(**config: Any) -> Tool:
    base = {"method": "post", "path": "/v1/{id}", "server_url": "https://api.example/base/"}
    return Tool(name="t", description="d", backend="http", backend_config={**base, **config})


def test_locations_aliases_and_cookies() -> None:
    tool = http_tool(
        parameters={"id": "path", "q": "query", "trace": "header", "session": "cookie", "X_Id": "header"},
        aliases={"X_Id": "X-Id"},
    )
    request = build_request(tool, {"id": 7, "q": {"a": 1}, "trace": True, "session": "a b;c", "X_Id": "x"})
    assert (request.method, request.url) == ("POST", "https://api.example/base/v1/7")
    assert request.params == [("q", '{"a":1}')]
    assert request.headers == {"trace": "true", "X-Id": "x", "Cookie": "session=a%20b%3Bc"}


@pytest.mark.parametrize(
    ("content_type", "value", "expected", "header"),
    [
        pytest.param("application/json", {"a": [1]}, {"json": {"a": [1]}}, None, id="json"),
        pytest.param(
            "application/merge-patch+json", {"a": None}, {"json": {"a": None}}, None, id="json-suffix"
        ),
        pytest.param(
            "application/x-www-form-urlencoded",
            {"a": 1, "b": False},
            {"data": {"a": "1", "b": "false"}},
            None,
            id="form",
        ),
        pytest.param(
            "text/plain", "héllo", {"content": "héllo".encode()}, "text/plain; charset=utf-8", id="text"
        ),
    ],
)
def test_bodies(content_type: str, value: Any, expected: dict[str, Any], header: str | None) -> None:
    tool = http_tool(body="body", content_type=content_type, parameters={"id": "path"})
    request = build_request(tool, {"id": 1, "body": value})
    assert request.body == expected
    assert request.headers.get("Content-Type") == header


def test_unsupported_bodies_are_refused() -> None:
    with pytest.raises(ToolCallError, match="multipart/form-data are not supported"):
        build_request(http_tool(body="body", content_type="multipart/form-data"), {"id": 1, "body": {}})


def test_a_missing_path_value_is_refused() -> None:
    with pytest.raises(ToolCallError, match="no value for the path parameter") as info:
        build_request(http_tool(), {})
    assert info.value.kind == "invalid_arguments"


def response(value: str | None) -> httpx.Response:
    return httpx.Response(503, headers={} if value is None else {"Retry-After": value})


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("7", 7.0, id="seconds"),
        pytest.param(" 0 ", 0.0, id="zero"),
        pytest.param(None, None, id="absent"),
        pytest.param("soon", None, id="unreadable"),
        pytest.param("Wed, 21 Oct 2015 07:28:00 GMT", 0.0, id="date-in-the-past"),
    ],
)
def test_retry_after(value: str | None, expected: float | None) -> None:
    assert retry_after_seconds(response(value)) == expected


def test_retry_after_as_a_future_date() -> None:
    when = email.utils.formatdate(time.time() + 60, usegmt=True)
    seconds = retry_after_seconds(response(when))
    assert seconds is not None
    assert 55 <= seconds <= 61
