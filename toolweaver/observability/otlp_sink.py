"""The ``otlp`` analytics backend: OpenTelemetry SDK metrics pushed over OTLP/HTTP.

The SDK is imported only when this backend is chosen, so the default (prometheus) pays nothing.
Header values (OTEL_EXPORTER_OTLP_HEADERS) are credentials: they are never logged.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING
from urllib.parse import unquote

from toolweaver.errors import ConfigError
from toolweaver.observability.analytics import is_counter

if TYPE_CHECKING:
    from opentelemetry.metrics import Counter, Histogram, MeterProvider

log = logging.getLogger(__name__)

DEFAULT_EXPORT_INTERVAL_S = 60.0
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


def otlp_sink(
    environ: Mapping[str, str], *, export_interval_s: float = DEFAULT_EXPORT_INTERVAL_S
) -> OtelSink:
    """An OtelSink exporting to OTEL_EXPORTER_OTLP_ENDPOINT every ``export_interval_s``."""
    endpoint = environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
    if not endpoint:
        raise ConfigError(
            "ANALYTICS_BACKEND=otlp needs OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://localhost:4318)"
        )
    url = metrics_url(endpoint)
    headers = parse_headers(environ.get("OTEL_EXPORTER_OTLP_HEADERS", ""))
    try:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
        from opentelemetry.sdk.resources import Resource
    except ImportError as exc:
        raise ConfigError(
            "ANALYTICS_BACKEND=otlp needs opentelemetry-sdk and opentelemetry-exporter-otlp-proto-http"
        ) from exc
    exporter = OTLPMetricExporter(endpoint=url, headers=headers, timeout=FLUSH_TIMEOUT_S)
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=export_interval_s * 1000)
    # Our own provider, not the global one: the app's analytics must not depend on who else set it,
    # and shutdown_on_exit is off because analytics.shutdown() closes it in order.
    provider = SdkMeterProvider(
        metric_readers=[reader],
        resource=Resource.create({"service.name": environ.get("OTEL_SERVICE_NAME", "toolweaver")}),
        shutdown_on_exit=False,
    )
    log.info("OTLP metrics to %s (%d header(s))", url, len(headers))
    return OtelSink(provider, owns_provider=True)
