"""Traces over OTLP to a receiver on loopback: a request, the job it queued and the job's tool
calls arrive as one trace, with the job id and tool names as attributes."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

pytest.importorskip("opentelemetry.sdk.trace")

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.fakes import FakeEmbedder, RecordingQueue
from tests.servers.loopback import serving
from toolweaver.api.http import ApiRequest
from toolweaver.api.routes import ROUTES, dispatch
from toolweaver.jobs.model import JobMessage
from toolweaver.observability import tracing
from toolweaver.observability.analytics import open_sink
from toolweaver.services import Services
from toolweaver.settings import Settings
from toolweaver.storage.filesystem import FileSystemBlobStore

ROUTE = {route.function_name: route for route in ROUTES}


def receiver(
    spans: list[dict[str, Any]], headers: list[dict[str, str]], lock: threading.Lock
) -> web.Application:
    async def traces(request: web.Request) -> web.Response:
        body = ExportTraceServiceRequest()
        body.ParseFromString(await request.read())
        with lock:
            headers.append({k.lower(): v for k, v in request.headers.items()})
            for resource in body.resource_spans:
                service = {a.key: a.value.string_value for a in resource.resource.attributes}
                for scope in resource.scope_spans:
                    for span in scope.spans:
                        spans.append(
                            {
                                "name": span.name,
                                "trace_id": span.trace_id.hex(),
                                "span_id": span.span_id.hex(),
                                "parent": span.parent_span_id.hex(),
                                "attributes": {a.key: _value(a.value) for a in span.attributes},
                                "error": span.status.code == 2,
                                "service": service.get("service.name"),
                            }
                        )
        return web.Response(body=b"", content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    app.router.add_post("/v1/metrics", _ignore)
    return app


async def _ignore(request: web.Request) -> web.Response:
    return web.Response(body=b"", content_type="application/x-protobuf")


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


@pytest.fixture
def traced() -> Iterator[tuple[list[dict[str, Any]], list[dict[str, str]]]]:
    spans: list[dict[str, Any]] = []
    headers: list[dict[str, str]] = []
    with serving(receiver(spans, headers, threading.Lock()), "otlp-traces") as url:
        settings = Settings.from_env(
            {
                "ANALYTICS_BACKEND": "otlp",
                "OTEL_EXPORTER_OTLP_ENDPOINT": url,
                "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20t0ken",
                "OTEL_SERVICE_NAME": "toolweaver-test",
            }
        )
        sink = open_sink(settings)  # installs the OTLP tracer provider
        try:
            yield spans, headers
        finally:
            provider = tracing.provider()
            tracing.install(None)
            if provider is not None:
                provider.shutdown()  # exports what is batched
            sink.close()


def test_a_request_its_job_and_the_jobs_tool_calls_are_one_trace(
    traced: tuple[list[dict[str, Any]], list[dict[str, str]]], services: Services, queue: RecordingQueue
) -> None:
    spans, headers = traced
    plan = {"steps": [{"id": "say", "tool": "echo", "arguments": {"text": "hi"}}], "output": "say"}
    body = json.dumps({"kind": "run", "input": {"plan": plan}}).encode()
    request = ApiRequest("POST", "/api/jobs", body, headers={"content-type": "application/json"})
    answer = dispatch(ROUTE["jobs_create"], request, services)
    assert answer.status == 202
    job_id = json.loads(answer.body)["id"]

    # The message carries the request's trace; the queue function hands it to the worker.
    message = JobMessage.decode(queue.messages[0])
    assert message is not None and message.job_id == job_id and "traceparent" in message.trace
    record = services.worker.process(message.job_id, trace=message.trace)
    assert record is not None and record.status == "succeeded"
    provider = tracing.provider()
    assert provider is not None
    provider.force_flush()

    by_name = {span["name"]: span for span in spans}
    http_span, job_span, tool_span = by_name["POST /api/jobs"], by_name["job"], by_name["tool echo"]
    assert http_span["trace_id"] == job_span["trace_id"] == tool_span["trace_id"]
    assert job_span["parent"] == http_span["span_id"]
    assert tool_span["parent"] == job_span["span_id"]
    assert http_span["attributes"]["http.response.status_code"] == 202
    assert http_span["attributes"]["toolweaver.request_id"] == answer.headers["X-Request-Id"]
    assert job_span["attributes"]["toolweaver.job_id"] == job_id
    assert job_span["attributes"]["toolweaver.job_kind"] == "run"
    assert tool_span["attributes"]["toolweaver.tool"] == "echo"
    assert tool_span["attributes"]["toolweaver.outcome"] == "ok"
    assert {span["service"] for span in spans} == {"toolweaver-test"}
    assert headers[0]["authorization"] == "Bearer t0ken"


def test_a_failed_tool_call_marks_its_span_as_an_error(
    traced: tuple[list[dict[str, Any]], list[dict[str, str]]], tmp_path: Path
) -> None:
    spans, _ = traced
    services = Services(Settings(), cache_store=FileSystemBlobStore(tmp_path), embedder=FakeEmbedder())
    plan = {"steps": [{"id": "x", "tool": "calculate", "arguments": {"expression": "1/0"}}]}
    body = json.dumps({"plan": plan}).encode()
    request = ApiRequest("POST", "/api/runs", body, headers={"content-type": "application/json"})
    assert dispatch(ROUTE["runs"], request, services).status == 200
    provider = tracing.provider()
    assert provider is not None
    provider.force_flush()
    (tool_span,) = [span for span in spans if span["name"] == "tool calculate"]
    assert tool_span["error"] and tool_span["attributes"]["toolweaver.outcome"] != "ok"


def test_without_a_trace_backend_the_message_is_the_bare_job_id(
    services: Services, queue: RecordingQueue
) -> None:
    assert tracing.provider() is None
    body = json.dumps({"kind": "search", "input": {"queries": [{"query": "weather"}]}}).encode()
    request = ApiRequest("POST", "/api/jobs", body, headers={"content-type": "application/json"})
    answer = dispatch(ROUTE["jobs_create"], request, services)
    assert queue.messages == [json.loads(answer.body)["id"]]
