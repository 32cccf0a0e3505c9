"""The push backends on the OpenTelemetry SDK: ``otlp`` and ``azuremonitor``.

Both are one MeterProvider (periodic export) and one TracerProvider (batched spans) of our own,
not the global ones, with different exporters: OTLP over HTTP, or Application Insights signed in
with Entra ID. The SDK and the exporters are imported only when a backend is chosen, so the
default (prometheus) pays nothing. Header values (OTEL_EXPORTER_OTLP_HEADERS) are credentials:
they are never logged.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from toolweaver.errors import ConfigError
from toolweaver.observability import tracing
from toolweaver.observability.analytics import is_counter
from toolweaver.settings import Settings

if TYPE_CHECKING:
    from opentelemetry.metrics import Counter, Histogram, MeterProvider

log = logging.getLogger(__name__)

# A dead collector must not hold a request or the process exit for the SDK's 10-30 s defaults.
FLUSH_TIMEOUT_S = 5.0


def parse_headers(raw: str) -> dict[str, str]:
    """``k1=v1,k2=v2`` (values URL-encoded, per the OTLP exporter spec) as a dict."""
    headers: dict[str, str] = {}
    for part in raw.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            # Name the position only: the text may hold a secret.
            raise ConfigError("OTEL_EXPORTER_OTLP_HEADERS must be key=value pairs separated by commas")
        headers[unquote(key.strip()).lower()] = unquote(value.strip())
    return headers


def metrics_url(endpoint: str) -> str:
    """The metrics URL for a base endpoint, as the spec appends it for the non-signal variable."""
    if not endpoint.startswith(("http://", "https://")):
        raise ConfigError(f"OTEL_EXPORTER_OTLP_ENDPOINT must be an http(s) URL, got {endpoint!r}")
    return endpoint.rstrip("/") + "/v1/metrics"


class OtelSink:
    """An AnalyticsSink over an OpenTelemetry MeterProvider: one instrument per name, on demand."""

    def __init__(self, provider: MeterProvider, *, owns_provider: bool = False) -> None:
        self._provider = provider
        self._owns = owns_provider
        self._meter = provider.get_meter("toolweaver")
        self._counters: dict[str, Counter] = {}
        self._histograms: dict[str, Histogram] = {}
        self._lock = threading.Lock()

    def record(self, name: str, value: float, attributes: Mapping[str, str]) -> None:
        if is_counter(name):
            if value < 0:
                return  # a counter reset (process restart) is not a negative count
            counter = self._counters.get(name)
            if counter is None:
                with self._lock:  # create once: two threads must not race to two instruments
                    counter = self._counters.setdefault(name, self._meter.create_counter(name))
            counter.add(value, dict(attributes))
        else:
            histogram = self._histograms.get(name)
            if histogram is None:
                with self._lock:
                    histogram = self._histograms.setdefault(name, self._meter.create_histogram(name))
            histogram.record(value, dict(attributes))

    def flush(self) -> None:
        force_flush = getattr(self._provider, "force_flush", None)
        if force_flush is not None and not force_flush(timeout_millis=FLUSH_TIMEOUT_S * 1000):
            log.warning("OTLP metrics flush did not complete")

    def close(self) -> None:
        shutdown = getattr(self._provider, "shutdown", None)
        if self._owns and shutdown is not None:
            shutdown(timeout_millis=FLUSH_TIMEOUT_S * 1000)  # shutdown exports what is pending
        else:
            self.flush()  # a shared (global) provider: its owner shuts it down


SpanExporterFactory = Callable[[Any], Any]  # tracer provider -> span exporter


def sdk_sink(settings: Settings, metric_exporter: Any, span_exporter: SpanExporterFactory) -> OtelSink:
    """An OtelSink exporting every ANALYTICS_INTERVAL_SECONDS; installs the app's tracer provider."""
    from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": settings.otel_service_name})
    reader = PeriodicExportingMetricReader(
        metric_exporter, export_interval_millis=settings.analytics_interval * 1000
    )
    # shutdown_on_exit is off: analytics.shutdown() closes both, in order.
    meter_provider = SdkMeterProvider(metric_readers=[reader], resource=resource, shutdown_on_exit=False)
    tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter(tracer_provider)))
    tracing.install(tracer_provider)
    return OtelSink(meter_provider, owns_provider=True)


def otlp_sink(settings: Settings) -> OtelSink:
    """``otlp``: metrics and spans to OTEL_EXPORTER_OTLP_ENDPOINT."""
    endpoint = settings.otel_endpoint.strip()
    if not endpoint:
        raise ConfigError(
            "ANALYTICS_BACKEND=otlp needs OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://localhost:4318)"
        )
    url = metrics_url(endpoint)
    headers = parse_headers(settings.otel_headers)
    try:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError as exc:
        raise ConfigError(
            "ANALYTICS_BACKEND=otlp needs opentelemetry-sdk and opentelemetry-exporter-otlp-proto-http"
        ) from exc
    traces_url = endpoint.rstrip("/") + "/v1/traces"
    sink = sdk_sink(
        settings,
        OTLPMetricExporter(endpoint=url, headers=headers, timeout=FLUSH_TIMEOUT_S),
        lambda _: OTLPSpanExporter(endpoint=traces_url, headers=headers, timeout=FLUSH_TIMEOUT_S),
    )
    log.info("OTLP metrics and traces to %s (%d header(s))", endpoint, len(headers))
    return sink


def azure_monitor_sink(settings: Settings, credential: Any) -> OtelSink:
    """``azuremonitor``: metrics and spans to Application Insights, signed in with ``credential``.

    The connection string only names the resource: local (key) authentication is off in the
    Bicep, and the app's identity has Monitoring Metrics Publisher on it.
    """
    connection = settings.appinsights_connection_string.strip()
    if not connection:
        raise ConfigError("ANALYTICS_BACKEND=azuremonitor needs APPLICATIONINSIGHTS_CONNECTION_STRING")
    try:
        # importlib keeps mypy from needing the exporter's (partial) type information.
        exporters = importlib.import_module("azure.monitor.opentelemetry.exporter")
    except ImportError as exc:
        raise ConfigError(
            "ANALYTICS_BACKEND=azuremonitor needs the package azure-monitor-opentelemetry-exporter"
        ) from exc
    # No retry files on the instance's disk: an ingestion outage loses figures, not disk space.
    options = {"connection_string": connection, "credential": credential, "disable_offline_storage": True}
    sink = sdk_sink(
        settings,
        exporters.AzureMonitorMetricExporter(**options),
        lambda provider: exporters.AzureMonitorTraceExporter(tracer_provider=provider, **options),
    )
    log.info("Azure Monitor metrics and traces, signed in with Entra ID")
    return sink
