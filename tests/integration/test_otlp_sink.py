"""The otlp backend against a real OTLP/HTTP receiver on loopback: metrics and headers arrive."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import pytest
from aiohttp import web

pytest.importorskip("opentelemetry.sdk.metrics")
pytest.importorskip("opentelemetry.exporter.otlp.proto.http")

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from prometheus_client import CollectorRegistry, Histogram

from tests.servers.loopback import serving
from toolweaver.errors import ConfigError
from toolweaver.observability.analytics import Analytics, open_sink
from toolweaver.observability.otel import parse_headers
from toolweaver.settings import Settings


@dataclass
class Received:
    """What the receiver saw: points per metric name as (value, attributes), and request headers."""

    points: dict[str, list[tuple[float, dict[str, str]]]] = field(default_factory=dict)
    # Histogram points per metric name: (bounds, bucket counts, count, sum, attributes), as sent.
    histograms: dict[str, list[tuple[list[float], list[int], int, float, dict[str, str]]]] = field(
        default_factory=dict
    )
    headers: list[dict[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def receiver(seen: Received) -> web.Application:
    async def metrics(request: web.Request) -> web.Response:
        body = ExportMetricsServiceRequest()
        body.ParseFromString(await request.read())
        with seen.lock:
            seen.headers.append({k.lower(): v for k, v in request.headers.items()})
            for rm in body.resource_metrics:
                for sm in rm.scope_metrics:
                    for metric in sm.metrics:
                        kind = metric.WhichOneof("data")
                        for dp in getattr(metric, kind).data_points:
                            attrs = {a.key: a.value.string_value for a in dp.attributes}
                            value = dp.sum if kind == "histogram" else dp.as_double or float(dp.as_int)
                            seen.points.setdefault(metric.name, []).append((value, attrs))
                            if kind == "histogram":
                                shape = (list(dp.explicit_bounds), list(dp.bucket_counts), dp.count, dp.sum)
                                seen.histograms.setdefault(metric.name, []).append((*shape, attrs))
        return web.Response(body=b"", content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/metrics", metrics)
    return app


def test_a_recorded_metric_arrives_after_flush_with_the_header() -> None:
    seen = Received()
    with serving(receiver(seen), "otlp-receiver") as url:
        sink = open_sink(
            Settings.from_env(
                {
                    "ANALYTICS_BACKEND": "otlp",
                    "OTEL_EXPORTER_OTLP_ENDPOINT": url,
                    "OTEL_EXPORTER_OTLP_HEADERS": "x-api-key=s3cr%20et,X-Tenant=t1",
                }
            )
        )
        try:
            sink.record("toolweaver_tool_calls_total", 2, {"tool": "echo"})
            sink.record("toolweaver_tool_calls_total", 3, {"tool": "echo"})
            sink.record("toolweaver_search_seconds", 0.25, {"cache": "miss"})
            sink.flush()
        finally:
            sink.close()
    assert seen.headers, "no export reached the receiver"
    assert seen.headers[0]["x-api-key"] == "s3cr et"
    assert seen.headers[0]["x-tenant"] == "t1"
    assert seen.headers[0]["content-type"] == "application/x-protobuf"
    # Cumulative temporality: the first export after flush holds the running total.
    assert seen.points["toolweaver_tool_calls_total"][0] == (5.0, {"tool": "echo"})
    assert seen.points["toolweaver_search_seconds"][0] == (0.25, {"cache": "miss"})


def test_bad_headers_do_not_echo_their_text() -> None:
    with pytest.raises(ConfigError) as err:
        parse_headers("Authorization Bearer topsecret")
    assert "topsecret" not in str(err.value)


def test_histograms_arrive_with_their_buckets_and_running_totals() -> None:
    """What the app records with prometheus_client reaches the collector as a full histogram."""
    registry = CollectorRegistry()
    latency = Histogram(
        "toolweaver_probe_seconds", "p", ["route"], buckets=(0.01, 0.1, 1.0), registry=registry
    )
    seen = Received()
    with serving(receiver(seen), "otlp-receiver") as url:
        settings = Settings.from_env({"ANALYTICS_BACKEND": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": url})
        analytics = Analytics(open_sink(settings), registry, backend="otlp")
        try:
            for value in (0.005, 0.05, 0.07, 0.5, 2.0):
                latency.labels("tools/search").observe(value)
            analytics.flush()
            latency.labels("tools/search").observe(0.03)
            analytics.flush()
        finally:
            analytics.close()
    first, second = seen.histograms["toolweaver_probe_seconds"][:2]
    assert first == ([0.01, 0.1, 1.0], [1, 2, 1, 1], 5, pytest.approx(2.625), {"route": "tools/search"})
    # Cumulative, as OTLP collectors expect by default: the second export holds the running totals.
    assert second[:3] == ([0.01, 0.1, 1.0], [1, 3, 1, 1], 6)
    assert "toolweaver_probe_seconds_count" not in seen.points  # one histogram, not loose counters
