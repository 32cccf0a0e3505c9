"""Request limits: per-caller rates (a limiter on a clock we move, and through dispatch), body caps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fakes import FakeEmbedder
from toolweaver.api.http import ApiRequest
from toolweaver.api.limits import RateLimiter, caller_of
from toolweaver.api.routes import ROUTES, dispatch
from toolweaver.services import Services
from toolweaver.settings import Settings
from toolweaver.storage.filesystem import FileSystemBlobStore


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_full_minute_refuses_until_the_next_minute_opens() -> None:
    clock = Clock(600.0 + 15)  # 15 s into a minute
    limiter = RateLimiter(3, 0, clock=clock)
    assert [limiter.admit("a") for _ in range(3)] == [None, None, None]
    refusal = limiter.admit("a")
    assert refusal is not None and refusal.window == "minute" and refusal.limit == 3
    assert refusal.retry_after == 45
    assert limiter.admit("b") is None  # another caller is not affected
    clock.now = 660.0  # the next minute
    assert limiter.admit("a") is None


def test_a_refused_request_is_not_counted() -> None:
    clock = Clock(0.5)
    limiter = RateLimiter(2, 3, clock=clock)
    limiter.admit("a"), limiter.admit("a")
    for _ in range(5):
        assert limiter.admit("a") is not None
    clock.now = 60.5
    assert limiter.admit("a") is None  # the hour saw 3, not 8
    refusal = limiter.admit("a")
    assert refusal is not None and refusal.window == "hour" and refusal.retry_after == 3540


def test_zero_means_no_limit() -> None:
    limiter = RateLimiter(0, 0, clock=Clock(0))
    assert not limiter.enabled
    assert all(limiter.admit("a") is None for _ in range(10_000))


def test_stale_callers_are_forgotten() -> None:
    clock = Clock(0.0)
    limiter = RateLimiter(5, 0, clock=clock)
    for n in range(1000):
        limiter.admit(f"address:{n}")
    clock.now = 120.0
    for n in range(24):
        limiter.admit(f"later:{n}")  # the 1,024th admission sweeps the old minute
    assert len(limiter._counts) == 24


@pytest.mark.parametrize(
    ("headers", "query", "caller"),
    [
        ({"x-functions-key": "k1", "x-ms-client-principal-id": "p"}, {}, "key:"),
        ({}, {"code": "k1"}, "key:"),
        ({"x-ms-client-principal-id": "p-1"}, {}, "principal:p-1"),
        ({"x-forwarded-for": "1.2.3.4, 10.0.0.9"}, {}, "address:10.0.0.9"),
        ({}, {}, "address:unknown"),
    ],
)
def test_the_caller_is_the_key_then_the_principal_then_the_address(
    headers: dict[str, str], query: dict[str, str], caller: str
) -> None:
    found = caller_of(ApiRequest("GET", "/api/tools", headers=headers, query=query))
    assert found.startswith(caller)
    assert "k1" not in found  # a key is a secret: only its hash names the caller


def test_the_same_key_in_header_or_query_is_one_caller() -> None:
    by_header = caller_of(ApiRequest("GET", "/", headers={"x-functions-key": "k1"}))
    assert by_header == caller_of(ApiRequest("GET", "/", query={"code": "k1"}))
    assert by_header != caller_of(ApiRequest("GET", "/", query={"code": "k2"}))


ROUTE = {route.function_name: route for route in ROUTES}


def test_dispatch_answers_429_with_retry_after_and_spares_other_callers_and_health(tmp_path: Path) -> None:
    services = Services(
        Settings(requests_per_minute=2, requests_per_hour=100),
        cache_store=FileSystemBlobStore(tmp_path),
        embedder=FakeEmbedder(),
    )
    first = ApiRequest("GET", "/api/tools", headers={"x-functions-key": "first"})
    assert [dispatch(ROUTE["tools_list"], first, services).status for _ in range(2)] == [200, 200]
    refused = dispatch(ROUTE["tools_list"], first, services)
    assert refused.status == 429 and refused.content_type == "application/problem+json"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    document = json.loads(refused.body)
    assert document["window"] == "minute" and document["limit"] == 2 and "retry in" in document["detail"]
    other = ApiRequest("GET", "/api/tools", headers={"x-functions-key": "second"})
    assert dispatch(ROUTE["tools_list"], other, services).status == 200
    for _ in range(5):  # probes are never limited
        assert dispatch(ROUTE["health"], ApiRequest("GET", "/api/health"), services).status == 200


def test_body_caps_come_from_the_settings(tmp_path: Path) -> None:
    services = Services(
        Settings(max_request_bytes=2048, max_body_bytes=8192),
        cache_store=FileSystemBlobStore(tmp_path),
        embedder=FakeEmbedder(),
    )
    big = json.dumps({"query": "weather " * 400}).encode()  # about 3 KiB
    search = ApiRequest("POST", "/api/tools/search", big, headers={"content-type": "application/json"})
    refused = dispatch(ROUTE["tools_search"], search, services)
    assert refused.status == 413 and b"MAX_REQUEST_BYTES" in refused.body
    tools = [{"name": f"tool_{n}", "description": "does a thing " * 5} for n in range(30)]
    document = json.dumps({"tools": tools}).encode()
    assert 2048 < len(document) < 8192
    imported = ApiRequest(
        "POST", "/api/tools/import", document, headers={"content-type": "application/json"}, operator=True
    )
    assert dispatch(ROUTE["tools_import"], imported, services).status == 200
    too_big = ApiRequest(
        "POST", "/api/tools/import", document * 3, headers={"content-type": "application/json"}, operator=True
    )
    refused = dispatch(ROUTE["tools_import"], too_big, services)
    assert refused.status == 413 and b"MAX_BODY_BYTES" in refused.body


@pytest.mark.parametrize(
    ("extra", "status"), [pytest.param(0, 200, id="at-the-cap"), pytest.param(1, 413, id="one-over")]
)
def test_a_body_of_exactly_max_request_bytes_is_accepted(tmp_path: Path, extra: int, status: int) -> None:
    services = Services(
        Settings(max_request_bytes=2048), cache_store=FileSystemBlobStore(tmp_path), embedder=FakeEmbedder()
    )
    body = b'{"query": "weather in Paris"}'
    body += b" " * (2048 - len(body) + extra)  # JSON allows trailing whitespace
    request = ApiRequest("POST", "/api/tools/search", body, headers={"content-type": "application/json"})
    assert len(body) == 2048 + extra
    assert dispatch(ROUTE["tools_search"], request, services).status == status
