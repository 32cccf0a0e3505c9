"""One analytics interface over several backends, chosen by ``ANALYTICS_BACKEND``.

The prometheus_client instruments in :mod:`toolweaver.observability.metrics` stay the source of
truth: call sites keep incrementing them, and :class:`RegistryBridge` turns what changed since the
last pump into calls on the configured sink (:mod:`toolweaver.observability.sink`): counter
deltas, histogram changes with every bucket, and gauge values. So ``prometheus`` (the default) is
the current behaviour with no extra sink, every backend receives the same metrics, and a push
backend never needs a call site of its own.

Backends: ``prometheus`` | ``otlp`` | ``azuremonitor`` | ``sqlite`` | ``none``, from
:class:`toolweaver.settings.Settings`. ``otlp`` and ``azuremonitor`` also carry the traces
(:mod:`toolweaver.observability.tracing`), ``azuremonitor`` the logs too. Push backends get what
changed every ``ANALYTICS_INTERVAL_SECONDS`` from a daemon thread, and everything left at shutdown.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.samples import Sample

from toolweaver.observability.sink import (
    COUNTER_SUFFIXES,
    AnalyticsSink,
    HistogramChange,
    NullSink,
    is_counter,
)
from toolweaver.settings import ANALYTICS_BACKENDS, Settings

log = logging.getLogger(__name__)

__all__ = ["COUNTER_SUFFIXES", "AnalyticsSink", "HistogramChange", "NullSink", "is_counter"]

BACKENDS = ANALYTICS_BACKENDS
DEFAULT_INTERVAL_S = 15.0
Labels = tuple[tuple[str, str], ...]


def open_sink(settings: Settings, *, credential: Any = None) -> AnalyticsSink:
    """Open the sink ``ANALYTICS_BACKEND`` names; ConfigError when it cannot start.

    ``credential`` signs in to Azure Monitor; by default the app's identity (AZURE_CLIENT_ID).
    """
    name = settings.analytics_backend
    if name in ("prometheus", "none"):
        return NullSink()
    if name == "sqlite":
        from toolweaver.observability.sqlite_sink import SqliteSink

        return SqliteSink(settings.analytics_db_path)
    from toolweaver.observability import otel

    if name == "otlp":
        return otel.otlp_sink(settings)
    if credential is None:
        from toolweaver.identity import credential_factory

        credential = credential_factory(settings.azure_client_id)()
    return otel.azure_monitor_sink(settings, credential)


class RegistryBridge:
    """Turns a prometheus registry's changes since the last pump into sink calls.

    Counters give ``<name>_total`` deltas (``record``); histograms give one
    :class:`HistogramChange` per series that saw observations, every bucket included
    (``record_histogram``); gauges give their value when it changed (``record_gauge``).
    """

    def __init__(self, registry: CollectorRegistry, sink: AnalyticsSink) -> None:
        self._registry = registry
        self._sink = sink
        self._last: dict[tuple[str, Labels], float] = {}
        self._lock = threading.Lock()

    def pump(self) -> int:
        """Send every change; returns how many calls went to the sink."""
        sent = 0
        with self._lock:
            for metric in self._registry.collect():
                if metric.type == "histogram":
                    sent += self._histograms(metric.name, metric.samples)
                    continue
                for sample in metric.samples:
                    if metric.type == "counter" and sample.name.endswith("_total"):
                        delta = self._delta(sample.name, sample.labels, sample.value)
                        if delta > 0:
                            self._sink.record(sample.name, delta, dict(sample.labels))
                            sent += 1
                    elif metric.type == "gauge":
                        key = (sample.name, tuple(sorted(sample.labels.items())))
                        if self._last.get(key) != sample.value:
                            self._last[key] = sample.value
                            self._sink.record_gauge(sample.name, sample.value, dict(sample.labels))
                            sent += 1
        return sent

    def _delta(self, name: str, labels: Mapping[str, str], value: float) -> float:
        """The change since the last pump; a drop (a reset) starts over from the new value."""
        key = (name, tuple(sorted(labels.items())))
        before = self._last.get(key, 0.0)
        self._last[key] = value
        return value - before if value >= before else value

    def _histograms(self, name: str, samples: list[Sample]) -> int:
        series: dict[Labels, dict[str, Any]] = {}
        for sample in samples:
            plain = {k: v for k, v in sample.labels.items() if k != "le"}
            entry = series.setdefault(tuple(sorted(plain.items())), {"buckets": []})
            if sample.name.endswith("_bucket"):
                entry["buckets"].append((float(sample.labels["le"]), sample.value))
            elif sample.name.endswith(("_count", "_sum")):
                entry[sample.name.rsplit("_", 1)[1]] = sample.value
        sent = 0
        for labels, entry in series.items():
            attributes = dict(labels)
            count = self._delta(f"{name}_count", attributes, entry.get("count", 0.0))
            total = self._delta(f"{name}_sum", attributes, entry.get("sum", 0.0))
            buckets = sorted(entry["buckets"])
            cumulative = [self._delta(f"{name}_bucket{le}", attributes, v) for le, v in buckets]
            if count <= 0:
                continue
            per_bucket = [int(c - p) for c, p in zip(cumulative, [0.0, *cumulative[:-1]], strict=True)]
            bounds = tuple(le for le, _ in buckets if le != float("inf"))
            self._sink.record_histogram(
                HistogramChange(name, attributes, bounds, tuple(per_bucket), int(count), total)
            )
            sent += 1
        return sent


class Analytics:
    """The process's sink and its bridge from the prometheus registry; flush and close pump first."""

    def __init__(
        self, sink: AnalyticsSink, registry: CollectorRegistry | None = None, *, backend: str = ""
    ) -> None:
        self.sink = sink
        self.backend = backend
        self.bridge = RegistryBridge(registry, sink) if registry is not None else None
        self._stop = threading.Event()
        self._pump: threading.Thread | None = None

    def record(self, name: str, value: float, attributes: Mapping[str, str] | None = None) -> None:
        self.sink.record(name, value, attributes or {})

    def flush(self) -> None:
        if self.bridge is not None:
            self.bridge.pump()
        self.sink.flush()

    def start_pump(self, interval_s: float) -> None:
        """Flush every ``interval_s`` on a daemon thread (push backends only: nothing to pump else)."""
        if self.bridge is None or self._pump is not None:
            return

        def loop() -> None:
            while not self._stop.wait(interval_s):
                try:
                    self.flush()
                except Exception:  # a collector outage must not end the pump
                    log.warning("analytics flush failed; retrying in %.0f s", interval_s, exc_info=True)

        self._pump = threading.Thread(target=loop, name="toolweaver-analytics", daemon=True)
        self._pump.start()

    def close(self) -> None:
        self._stop.set()
        try:
            self.flush()
        finally:
            self.sink.close()


class ProcessAnalytics:
    """The process's one Analytics: opened by the first ``start``, flushed and closed at exit."""

    def __init__(self) -> None:
        self._current: Analytics | None = None
        self._lock = threading.Lock()

    def current(self) -> Analytics | None:
        return self._current

    def start(
        self,
        settings: Settings,
        registry: CollectorRegistry | None = None,
        *,
        at_exit: Callable[[Callable[[], None]], object] = atexit.register,
    ) -> Analytics:
        """Open the backend once (later calls return the same Analytics); closed at exit."""
        with self._lock:
            started = self._current
            if started is None:
                if registry is None:
                    from toolweaver.observability.metrics import REGISTRY

                    registry = REGISTRY
                sink = open_sink(settings)
                # The prometheus backend is the registry itself: nothing to pump.
                bridged = None if isinstance(sink, NullSink) else registry
                started = self._current = Analytics(sink, bridged, backend=settings.analytics_backend)
                started.start_pump(float(settings.analytics_interval))
                at_exit(shutdown)
                log.info("analytics backend: %s", settings.analytics_backend)
            return started

    def shutdown(self) -> None:
        """Flush and close the analytics, if started, then the trace provider; safe to call twice."""
        from toolweaver.observability import tracing

        with self._lock:
            current, self._current = self._current, None
        if current is not None:
            try:
                current.close()
            except Exception:  # shutdown must not mask the real exit reason
                log.exception("analytics shutdown failed")
        provider = tracing.provider()
        if provider is not None and hasattr(provider, "shutdown"):
            tracing.install(None)
            try:
                provider.shutdown()  # exports the spans still batched
            except Exception:
                log.exception("trace provider shutdown failed")


PROCESS = ProcessAnalytics()  # one per process: the pump thread and atexit hook are process-wide


def current() -> Analytics | None:
    return PROCESS.current()


def start(
    settings: Settings,
    registry: CollectorRegistry | None = None,
    *,
    at_exit: Callable[[Callable[[], None]], object] = atexit.register,
) -> Analytics:
    """The process's analytics (see ProcessAnalytics.start)."""
    return PROCESS.start(settings, registry, at_exit=at_exit)


def shutdown() -> None:
    """Flush and close the process's analytics, if started; safe to call twice."""
    PROCESS.shutdown()
