"""The HTTP functions of function_app.py, called directly with func.HttpRequest and fakes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from tests.app_functions import functions
from tests.fakes import FakeEmbedder, RecordingQueue
from toolweaver.api.routes import ROUTES
from toolweaver.errors import StorageUnavailableError
from toolweaver.functions import runtime
from toolweaver.services import Services
from toolweaver.settings import Settings
from toolweaver.storage.filesystem import FileSystemBlobStore

FUNCTIONS: dict[str, Callable[..., Any]] = {f.get_function_name(): f.get_user_function() for f in functions()}
# A route's operator methods are a function of their own (name + "_admin"), as Azure registers them.
FUNCTION_FOR = {
    (route.function_name, method): name
    for route in ROUTES
    for name, methods, _ in route.functions()
    for method in methods
}


class DownStore(FileSystemBlobStore):
    def get(self, key: str) -> Any:
        raise StorageUnavailableError("Blob Storage is unreachable")

    def exists(self, key: str) -> bool:
        raise StorageUnavailableError("Blob Storage is unreachable")


def call(
    name: str,
    method: str = "GET",
    body: Any = None,
    *,
    raw: bytes | None = None,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
    params: dict[str, str] | None = None,
    route: dict[str, str] | None = None,
) -> func.HttpResponse:
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
    request = func.HttpRequest(
        method=method,
        url=f"http://localhost/api/{name}",
        headers={"Content-Type": content_type, **(headers or {})},
        params=params or {},
        route_params=route or {},
        body=data,
    )
    response: func.HttpResponse = FUNCTIONS[FUNCTION_FOR.get((name, method), name)](request)
    return response


def payload(response: func.HttpResponse) -> Any:
    return json.loads(response.get_body())


def assert_problem(response: func.HttpResponse, status: int) -> dict[str, Any]:
    assert response.status_code == status
    assert response.mimetype == "application/problem+json"
    document = payload(response)
    assert document["status"] == status and document["title"] and document["detail"]
    assert "Traceback" not in response.get_body().decode()
    return dict(document)


def test_health_reports_storage_and_what_is_loaded(services: Services) -> None:
    response = call("health")
    assert response.status_code == 200
    body = payload(response)
    assert body["status"] == "healthy" and body["storage"]["reachable"] is True
    assert body["model_loaded"] is False and body["index_loaded"] is False  # health loads nothing
    call("tools_search", "POST", {"query": "weather"})
    after = payload(call("health"))
    assert after["model_loaded"] is True and after["index_loaded"] is True


def test_health_is_503_naming_storage_when_it_is_down(tmp_path: Path) -> None:
    runtime.use(Services(Settings(), cache_store=DownStore(tmp_path), jobs_store=DownStore(tmp_path)))
    try:
        response = call("health")
    finally:
        runtime.use(None)
    assert response.status_code == 503
    assert payload(response)["down"] == ["storage"]


def test_search_finds_the_weather_tool_and_then_serves_it_from_cache(services: Services) -> None:
    first = call("tools_search", "POST", {"query": "what is the weather forecast in Paris", "top_k": 3})
    assert first.status_code == 200
    body = payload(first)
    assert len(body["results"]) == 3 and body["cached"] is False
    assert any("weather" in hit["name"] for hit in body["results"])
    second = payload(
        call("tools_search", "POST", {"query": "what is the weather forecast in Paris", "top_k": 3})
    )
    assert second["cached"] is True and second["results"] == body["results"]


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        pytest.param({"body": {"query": ""}}, 422, id="empty-query"),
        pytest.param({"body": {"query": "x" * 10_001}}, 422, id="query-too-long"),
        pytest.param({"body": {"query": "x", "top_k": 0}}, 422, id="top-k-zero"),
        pytest.param({"body": {"query": "x", "colour": "red"}}, 422, id="unknown-field"),
        pytest.param({"raw": b"{not json"}, 400, id="bad-json"),
        pytest.param({"raw": b"\xff\xfe"}, 400, id="not-utf8"),
        pytest.param({"raw": b""}, 400, id="no-body"),
        pytest.param({"body": {"query": "x"}, "content_type": "text/plain"}, 415, id="wrong-type"),
        pytest.param({"raw": b'{"query":"' + b"x" * 300_000 + b'"}'}, 413, id="too-large"),
    ],
)
def test_bad_search_requests_get_problem_details(
    services: Services, kwargs: dict[str, Any], status: int
) -> None:
    assert_problem(call("tools_search", "POST", **kwargs), status)


def test_validation_problems_list_fields_without_echoing_values(services: Services) -> None:
    document = assert_problem(call("tools_search", "POST", {"query": "ok", "top_k": "secret-value"}), 422)
    assert document["errors"][0]["field"] == "top_k"
    assert "secret-value" not in json.dumps(document)


def test_tool_lifecycle_put_get_conditional_put_delete(services: Services) -> None:
    tool = {"description": "Convert an amount between currencies", "tags": ["finance"]}
    created = call("tools_item", "PUT", tool, route={"name": "fx.convert"})
    assert created.status_code == 201 and created.headers["Location"] == "/api/tools/fx.convert"
    etag = created.headers["ETag"]
    got = call("tools_item", route={"name": "fx.convert"})
    assert payload(got)["description"] == tool["description"] and got.headers["ETag"] == etag
    changed = call("tools_item", "PUT", {**tool, "description": "v2"}, route={"name": "fx.convert"})
    assert changed.status_code == 200
    stale = call("tools_item", "PUT", tool, route={"name": "fx.convert"}, headers={"If-Match": etag})
    assert_problem(stale, 412)
    assert call("tools_item", "DELETE", route={"name": "fx.convert"}).status_code == 204
    assert_problem(call("tools_item", route={"name": "fx.convert"}), 404)


@pytest.mark.parametrize(
    "etag",
    [pytest.param('"0123abcd"', id="made-up"), pytest.param("*", id="star"), pytest.param("", id="empty")],
)
def test_if_match_on_a_tool_that_does_not_exist_creates_nothing(services: Services, etag: str) -> None:
    before = payload(call("tools_list", params={"limit": "500"}))
    tool = {"description": "Should never be stored", "tags": ["nope"]}
    refused = call("tools_item", "PUT", tool, route={"name": "ghost.tool"}, headers={"If-Match": etag})
    assert_problem(refused, 412)
    assert_problem(call("tools_item", route={"name": "ghost.tool"}), 404)
    assert payload(call("tools_list", params={"limit": "500"})) == before  # the catalog is unchanged
    # Unconditionally, the same request creates it: the 412 was the condition's doing.
    assert call("tools_item", "PUT", tool, route={"name": "ghost.tool"}).status_code == 201


@pytest.mark.parametrize(
    ("name", "body", "status"),
    [
        pytest.param("a.b", {"name": "other", "description": "x"}, 422, id="name-mismatch"),
        pytest.param("a.b", {"description": ""}, 422, id="empty-description"),
        pytest.param("a.b", {"description": "x", "parameters": {"type": "string"}}, 422, id="bad-schema"),
        pytest.param("bad name!", {"description": "x"}, 404, id="bad-path-name"),
    ],
)
def test_invalid_tools_are_refused_naming_the_problem(
    services: Services, name: str, body: dict[str, Any], status: int
) -> None:
    assert_problem(call("tools_item", "PUT", body, route={"name": name}), status)


def test_list_pages_through_the_catalog(services: Services) -> None:
    first = payload(call("tools_list", params={"limit": "10"}))
    assert len(first["tools"]) == 10 and first["next_offset"] == 10 and first["total"] > 10
    rest = payload(call("tools_list", params={"limit": "1000", "offset": "10"}))
    assert rest["next_offset"] is None and len(rest["tools"]) == first["total"] - 10
    assert_problem(call("tools_list", params={"limit": "0"}), 400)


def test_import_our_format_in_yaml_and_an_openapi_document(services: Services) -> None:
    yaml_body = b"tools:\n  - name: notes.add\n    description: Add a note\n"
    imported = call("tools_import", "POST", raw=yaml_body, content_type="application/yaml")
    assert imported.status_code == 200 and payload(imported)["names"] == ["notes.add"]
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "Pets", "version": "1"},
        "paths": {"/pets": {"get": {"operationId": "listPets", "summary": "List pets"}}},
    }
    refused = call("tools_import", "POST", spec, params={"server_url": "http://127.0.0.1:9"})
    assert assert_problem(refused, 422)["field"] == "backend_config.server_url"  # not an allowed host
    allowed = Settings(tool_allowed_hosts="pets.example")
    runtime.use(
        Services(allowed, cache_store=services.cache_store, queue=RecordingQueue(), embedder=FakeEmbedder())
    )
    imported = payload(call("tools_import", "POST", spec, params={"server_url": "https://pets.example"}))
    assert imported["format"] == "openapi" and imported["names"] == ["listPets"]
    assert payload(call("tools_item", route={"name": "listPets"}))["backend"] == "http"
    assert_problem(call("tools_import", "POST", {"tools": [{"name": "x"}]}), 422)


def test_jobs_are_queued_by_id_and_idempotent(services: Services, queue: RecordingQueue) -> None:
    job = {"kind": "search", "input": {"queries": [{"query": "send an email"}]}}
    first = call("jobs_create", "POST", job, headers={"Idempotency-Key": "abc-1"})
    assert first.status_code == 202
    job_id = payload(first)["id"]
    assert queue.messages == [job_id] and first.headers["Location"] == f"/api/jobs/{job_id}"
    again = call("jobs_create", "POST", job, headers={"Idempotency-Key": "abc-1"})
    assert payload(again)["id"] == job_id and again.headers["Idempotent-Replayed"] == "true"
    assert queue.messages == [job_id]
    status = call("jobs_item", route={"id": job_id})
    assert payload(status)["status"] == "queued" and "idempotency_key" not in payload(status)


def test_the_queue_function_runs_a_search_job(services: Services, queue: RecordingQueue) -> None:
    job = {"kind": "search", "input": {"queries": [{"query": "send an email"}, {"query": "weather in Oslo"}]}}
    job_id = payload(call("jobs_create", "POST", job))["id"]
    FUNCTIONS["jobs_run"](func.QueueMessage(id="m1", body=job_id.encode()))
    record = payload(call("jobs_item", route={"id": job_id}))
    assert record["status"] == "succeeded"
    assert [s["query"] for s in record["result"]["searches"]] == ["send an email", "weather in Oslo"]


def test_the_poison_function_fails_the_job_and_junk_messages_are_dropped(
    services: Services, queue: RecordingQueue
) -> None:
    job_id = payload(call("jobs_create", "POST", {"kind": "search", "input": {"queries": [{"query": "x"}]}}))[
        "id"
    ]
    FUNCTIONS["jobs_poison"](func.QueueMessage(id="m2", body=job_id.encode()))
    record = payload(call("jobs_item", route={"id": job_id}))
    assert record["status"] == "failed" and record["error"]["type"] == "WorkerCrashed"
    FUNCTIONS["jobs_run"](func.QueueMessage(id="m3", body=b"not a job id"))  # logged and dropped, no raise
    FUNCTIONS["jobs_run"](func.QueueMessage(id="m4", body=job_id.encode()))  # finished: a no-op
    assert payload(call("jobs_item", route={"id": job_id}))["status"] == "failed"


def test_a_fresh_instance_loads_the_index_from_storage_instead_of_embedding(
    services: Services, tmp_path: Path
) -> None:
    call("tools_search", "POST", {"query": "weather"})
    fresh_embedder = FakeEmbedder()
    fresh = Services(
        Settings(), cache_store=services.cache_store, jobs_store=services.jobs_store, embedder=fresh_embedder
    )
    runtime.use(fresh)
    assert call("tools_search", "POST", {"query": "weather in Oslo"}).status_code == 200
    assert fresh_embedder.texts_embedded == 1  # the query alone; none of the 32 tools again


def test_unknown_jobs_and_bad_job_bodies(services: Services) -> None:
    assert_problem(call("jobs_item", route={"id": "0" * 32}), 404)
    assert_problem(call("jobs_item", route={"id": "../etc"}), 404)
    assert_problem(call("jobs_create", "POST", {"kind": "mine-bitcoin", "input": {}}), 422)
    bad_key = call(
        "jobs_create",
        "POST",
        {"kind": "search", "input": {"queries": [{"query": "x"}]}},
        headers={"Idempotency-Key": "has space"},
    )
    assert_problem(bad_key, 400)


def test_storage_outage_is_a_503_with_retry_after(tmp_path: Path) -> None:
    runtime.use(Services(Settings(), cache_store=DownStore(tmp_path), embedder=FakeEmbedder()))
    try:
        response = call("tools_search", "POST", {"query": "weather"})
    finally:
        runtime.use(None)
    assert_problem(response, 503)
    assert response.headers["Retry-After"].isdigit()


def test_metrics_are_prometheus_text_with_our_names(services: Services) -> None:
    call("tools_search", "POST", {"query": "weather"})
    text = call("metrics").get_body().decode()
    assert "toolweaver_http_requests_total" in text and "toolweaver_cache_lookups_total" in text


def worker_content_type(response: func.HttpResponse) -> str:
    """The Content-Type the Python worker sends to the host for ``response`` (its own converter)."""
    from azure.functions.http import HttpResponseConverter

    HttpResponseConverter.encode(response, expected_type=None)
    return str(response.headers["content-type"])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("metrics", "text/plain; version=1.0.0; charset=utf-8", id="prometheus-text"),
        pytest.param("health", "application/json", id="json"),
        pytest.param("tools_item", "application/problem+json", id="problem"),
    ],
)
def test_worker_sends_one_content_type_with_at_most_one_charset(
    services: Services, name: str, expected: str
) -> None:
    route = {"name": "no-such-tool"} if name == "tools_item" else None
    content_type = worker_content_type(call(name, route=route))
    assert content_type == expected
    assert content_type.lower().count("charset") <= 1


@pytest.mark.parametrize(
    ("min_ms", "shared"),
    [
        pytest.param(0, True, id="every-result-shared"),
        pytest.param(60_000, False, id="cheap-results-local"),
    ],
)
def test_only_results_that_cost_enough_go_to_blob_storage(
    tmp_path: Path, queue: RecordingQueue, min_ms: int, shared: bool
) -> None:
    store = FileSystemBlobStore(tmp_path / "cache")
    runtime.use(Services(Settings(search_cache_min_ms=min_ms), cache_store=store, embedder=FakeEmbedder()))
    try:
        assert payload(call("tools_search", "POST", {"query": "convert currencies"}))["cached"] is False
        assert payload(call("tools_search", "POST", {"query": "convert currencies"}))["cached"] is True
        assert bool(list(store.list("search/"))) is shared
        runtime.use(
            Services(Settings(search_cache_min_ms=min_ms), cache_store=store, embedder=FakeEmbedder())
        )
        assert payload(call("tools_search", "POST", {"query": "convert currencies"}))["cached"] is shared
    finally:
        runtime.use(None)
