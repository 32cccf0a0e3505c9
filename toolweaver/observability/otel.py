"""The push backends on the OpenTelemetry SDK: ``otlp`` and ``azuremonitor``.

Metrics: :class:`OtelSink` keeps what the registry bridge hands it (counter deltas, histogram
changes with their buckets, gauges) and exports it as OpenTelemetry metric data on each flush,
straight to the exporter: cumulative for OTLP (its default), delta for Azure Monitor (its
preference). Histograms keep Prometheus' buckets, so an OTLP collector gets full histograms;
Application Insights keeps count and sum per histogram, so for ``azuremonitor`` each histogram is
also sent as a ``<name>_bucket`` counter per ``le``, from which KQL computes percentiles.

Traces: one TracerProvider (batched spans) of our own, not the global one. Logs (azuremonitor):
one LoggerProvider whose handler on the ``toolweaver`` logger sends each record with its request,
job and trace id as attributes (custom dimensions in Application Insights).

The SDK and the exporters are imported only when a backend is chosen, so the default
(prometheus) pays nothing. Header values (OTEL_EXPORTER_OTLP_HEADERS) are credentials: they are
never logged.
"""

from __future__ import annotations

import bisect
import importlib
import logging
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote

from toolweaver.errors import ConfigError
from toolweaver.observability import logs, tracing
from toolweaver.observability.sink import HistogramChange, is_counter
from toolweaver.settings import Settings

log = logging.getLogger(__name__)

# A dead collector must not hold a request or the process exit for the SDK's 10-30 s defaults.
FLUSH_TIMEOUT_S = 5.0
# Bounds for values recorded one at a time (record() with a histogram name): the app's latency buckets.
DEFAULT_BOUNDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
Key = tuple[str, tuple[tuple[str, str], ...]]


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


@dataclass
class _Series:
    """One histogram series: its bounds, observations per bucket, count, sum and (when known) range."""

    bounds: tuple[float, ...]
    counts: list[int]
    count: int = 0
    sum: float = 0.0
    low: float = math.inf  # min and max: known only for values recorded one at a time
    high: float = -math.inf
    ranged: bool = True  # false once bucket counts came in: min and max unknown

    def add(self, change: HistogramChange) -> None:
        self.counts = [a + b for a, b in zip(self.counts, change.counts, strict=True)]
        self.count += change.count
        self.sum += change.sum
        self.ranged = False

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.count += 1
        self.sum += value
        self.low, self.high = min(self.low, value), max(self.high, value)


class OtelSink:
    """An AnalyticsSink that exports what it was given as OpenTelemetry metric data on flush.

    ``delta`` (Azure Monitor): each export holds what changed since the previous one. Otherwise
    (OTLP) each export holds the running totals since the sink opened. ``bucket_series`` adds a
    ``<name>_bucket`` counter per ``le`` for each histogram (for backends that drop buckets).
    """

    def __init__(
        self,
        exporter: Any,
        resource: Any,
        *,
        delta: bool = False,
        bucket_series: bool = False,
        closers: tuple[Callable[[], object], ...] = (),
        clock: Callable[[], int] = time.time_ns,
    ) -> None:
        self._exporter = exporter
        self._resource = resource
        self._delta = delta
        self._bucket_series = bucket_series
        self._closers = closers
        self._clock = clock
        self._start = clock()
        self._counters: dict[Key, float] = {}
        self._histograms: dict[Key, _Series] = {}
        self._gauges: dict[Key, float] = {}
        self._lock = threading.Lock()

    def record(self, name: str, value: float, attributes: Mapping[str, str]) -> None:
        key = (name, tuple(sorted(attributes.items())))
        with self._lock:
            if is_counter(name):
                if value > 0:  # a counter reset (process restart) is not a negative count
                    self._counters[key] = self._counters.get(key, 0.0) + value
                return
            series = self._histograms.get(key)
            if series is None:
                series = self._histograms[key] = _Series(DEFAULT_BOUNDS, [0] * (len(DEFAULT_BOUNDS) + 1))
            series.observe(value)

    def record_histogram(self, change: HistogramChange) -> None:
        key = (change.name, tuple(sorted(change.attributes.items())))
        with self._lock:
            series = self._histograms.get(key)
            if series is None or series.bounds != change.bounds:
                series = self._histograms[key] = _Series(change.bounds, [0] * len(change.counts))
            series.add(change)

    def record_gauge(self, name: str, value: float, attributes: Mapping[str, str]) -> None:
        with self._lock:
            self._gauges[(name, tuple(sorted(attributes.items())))] = value

    def flush(self) -> None:
        from opentelemetry.sdk.metrics.export import MetricExportResult

        data = self._collect()
        if data is None:
            return
        result = self._exporter.export(data, timeout_millis=FLUSH_TIMEOUT_S * 1000)
        if result is not MetricExportResult.SUCCESS:
            log.warning("metrics export did not complete")

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._exporter.shutdown(timeout_millis=FLUSH_TIMEOUT_S * 1000)
            for close in self._closers:
                close()

    def _collect(self) -> Any:
        """Everything to export now as MetricsData (None when there is nothing)."""
        from opentelemetry.sdk.metrics.export import MetricsData, ResourceMetrics, ScopeMetrics
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        now = self._clock()
        with self._lock:
            start, counters, histograms, gauges = self._start, self._counters, self._histograms, self._gauges
            if self._delta:
                self._start, self._counters, self._histograms, self._gauges = now, {}, {}, {}
            else:  # the running totals stay: export copies
                counters, gauges = dict(counters), dict(gauges)
                histograms = {k: replace(v, counts=list(v.counts)) for k, v in histograms.items()}
        window = (start, now)
        metrics = [
            *_sums(counters, histograms if self._bucket_series else {}, window, self._delta),
            *_histograms(histograms, window, self._delta),
            *_gauges(gauges, window),
        ]
        if not metrics:
            return None
        scope = ScopeMetrics(InstrumentationScope("toolweaver"), metrics, "")
        return MetricsData([ResourceMetrics(self._resource, [scope], "")])


Window = tuple[int, int]  # start and end, ns since the epoch


def _temporality(delta: bool) -> Any:
    from opentelemetry.sdk.metrics.export import AggregationTemporality

    return AggregationTemporality.DELTA if delta else AggregationTemporality.CUMULATIVE


def _sums(counters: dict[Key, float], buckets: dict[Key, _Series], window: Window, delta: bool) -> list[Any]:
    """Counters, and ``<name>_bucket`` counters (cumulative over ``le``) for the histograms given."""
    from opentelemetry.sdk.metrics.export import Metric, NumberDataPoint, Sum

    points: dict[str, list[Any]] = {}
    for (name, attrs), value in counters.items():
        points.setdefault(name, []).append(NumberDataPoint(dict(attrs), *window, value))
    for (name, attrs), series in buckets.items():
        change = HistogramChange(name, dict(attrs), series.bounds, tuple(series.counts), 0, 0.0)
        for le, count in change.cumulative():
            if count:
                point = NumberDataPoint({**dict(attrs), "le": le}, *window, count)
                points.setdefault(f"{name}_bucket", []).append(point)
    return [Metric(name, "", "", Sum(p, _temporality(delta), True)) for name, p in points.items()]


def _histograms(histograms: dict[Key, _Series], window: Window, delta: bool) -> list[Any]:
    from opentelemetry.sdk.metrics.export import Histogram, HistogramDataPoint, Metric

    points: dict[str, list[Any]] = {}
    for (name, attrs), series in histograms.items():
        point = HistogramDataPoint(
            dict(attrs),
            *window,
            count=series.count,
            sum=series.sum,
            bucket_counts=tuple(series.counts),
            explicit_bounds=series.bounds,
            # The protobuf leaves an optional field unset for None: min and max are unknown.
            min=series.low if series.ranged else None,  # type: ignore[arg-type]
            max=series.high if series.ranged else None,  # type: ignore[arg-type]
        )
        points.setdefault(name, []).append(point)
    return [Metric(name, "", "", Histogram(p, _temporality(delta))) for name, p in points.items()]


def _gauges(gauges: dict[Key, float], window: Window) -> list[Any]:
    from opentelemetry.sdk.metrics.export import Gauge, Metric, NumberDataPoint

    points: dict[str, list[Any]] = {}
    for (name, attrs), value in gauges.items():
        points.setdefault(name, []).append(NumberDataPoint(dict(attrs), *window, value))
    return [Metric(name, "", "", Gauge(p)) for name, p in points.items()]


SpanExporterFactory = Callable[[Any], Any]  # tracer provider -> span exporter


def _resource(settings: Settings) -> Any:
    from opentelemetry.sdk.resources import Resource

    return Resource.create({"service.name": settings.otel_service_name})


def install_tracing(settings: Settings, span_exporter: SpanExporterFactory) -> None:
    """The app's tracer provider: spans batched to ``span_exporter``; shut down by analytics.shutdown."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    tracer_provider = TracerProvider(resource=_resource(settings), shutdown_on_exit=False)
    tracer_provider.add_span_processor(BatchSpanProcessor(span_exporter(tracer_provider)))
    tracing.install(tracer_provider)


class OtelLogHandler(logging.Handler):
    """Sends records to an OpenTelemetry LoggerProvider: the message as body, and as attributes the
    logger's name and the request, job and trace ids (custom dimensions in Application Insights).

    Only these attributes, not every field of the record: extras may hold what a log should show
    but a telemetry store should not index.
    """

    def __init__(self, provider: Any, level: int = logging.INFO) -> None:
        super().__init__(level)
        self._provider = provider

    def emit(self, record: logging.LogRecord) -> None:
        try:
            attributes: dict[str, str] = {"logger": record.name}
            for name in ("request_id", "job_id", "trace_id"):
                value = getattr(record, name, "")
                if value:
                    attributes[name] = str(value)
            exception = record.exc_info[1] if record.exc_info else None
            self._provider.get_logger(record.name).emit(
                timestamp=int(record.created * 1e9),
                severity_number=_severity(record.levelno),
                severity_text=record.levelname,
                body=record.getMessage(),
                attributes=attributes,
                exception=exception,
            )
        except Exception:
            self.handleError(record)


def _severity(level: int) -> Any:
    from opentelemetry._logs import SeverityNumber

    for threshold, number in (
        (logging.CRITICAL, SeverityNumber.FATAL),
        (logging.ERROR, SeverityNumber.ERROR),
        (logging.WARNING, SeverityNumber.WARN),
        (logging.INFO, SeverityNumber.INFO),
    ):
        if level >= threshold:
            return number
    return SeverityNumber.DEBUG


def export_logs(settings: Settings, exporter: Any) -> Callable[[], None]:
    """Send the app's records through ``exporter`` (batched); returns what stops and flushes it."""
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

    provider = LoggerProvider(resource=_resource(settings), shutdown_on_exit=False)
    provider.add_log_record_processor(BatchLogRecordProcessor(exporter))
    handler = OtelLogHandler(provider)
    logs.SETUP.export_through(handler)

    def stop() -> None:
        if logs.SETUP.exporter is handler:
            logs.SETUP.export_through(None)
        provider.shutdown()  # exports the records still batched

    return stop


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
    exporter = OTLPMetricExporter(endpoint=url, headers=headers, timeout=FLUSH_TIMEOUT_S)
    sink = OtelSink(exporter, _resource(settings))
    install_tracing(
        settings, lambda _: OTLPSpanExporter(endpoint=traces_url, headers=headers, timeout=FLUSH_TIMEOUT_S)
    )
    log.info("OTLP metrics and traces to %s (%d header(s))", endpoint, len(headers))
    return sink


def azure_monitor_sink(settings: Settings, credential: Any) -> OtelSink:
    """``azuremonitor``: metrics, spans and logs to Application Insights, signed in with ``credential``.

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
    stop_logs = export_logs(settings, exporters.AzureMonitorLogExporter(**options))
    sink = OtelSink(
        exporters.AzureMonitorMetricExporter(**options),
        _resource(settings),
        delta=True,
        bucket_series=True,
        closers=(stop_logs,),
    )
    install_tracing(
        settings, lambda provider: exporters.AzureMonitorTraceExporter(tracer_provider=provider, **options)
    )
    log.info("Azure Monitor metrics, traces and logs, signed in with Entra ID")
    return sink
