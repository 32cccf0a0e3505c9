"""One analytics interface over several backends, chosen by ``ANALYTICS_BACKEND``.

The prometheus_client instruments in :mod:`toolweaver.observability.metrics` stay the source of
truth: call sites keep incrementing them, and :class:`RegistryBridge` turns what changed since the
last pump into ``record()`` calls on the configured sink. So ``prometheus`` (the default) is the
current behaviour with no extra sink, and a push backend never needs a call site of its own.

Naming rule shared by the bridge and the sinks: a name ending ``_total``, ``_count`` or ``_sum`` is
a monotonic delta (a counter); any other name is one observation (a histogram value).

Backends: ``prometheus`` | ``otlp`` | ``azuremonitor`` | ``sqlite`` | ``none``. Settings are read
from an ``environ`` mapping (not :mod:`toolweaver.settings` yet, see the operations issue).
"""

from __future__ import annotations

import atexit
import importlib
import logging
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

from prometheus_client import CollectorRegistry

from toolweaver.errors import ConfigError

log = logging.getLogger(__name__)

BACKENDS = ("prometheus", "otlp", "azuremonitor", "sqlite", "none")
DEFAULT_BACKEND = "prometheus"
DEFAULT_DB_PATH = "~/.cache/toolweaver/analytics.db"
COUNTER_SUFFIXES = ("_total", "_count", "_sum")


def is_counter(name: str) -> bool:
    """True when ``name`` carries deltas to add up rather than single observations."""
    return name.endswith(COUNTER_SUFFIXES)


@runtime_checkable
class AnalyticsSink(Protocol):
    """Where analytics events go. ``record`` must be cheap and thread-safe; I/O belongs in flush."""

    def record(self, name: str, value: float, attributes: Mapping[str, str]) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class NullSink:
    """Drops everything: the ``none`` backend, and ``prometheus`` (the registry is the backend)."""

    def record(self, name: str, value: float, attributes: Mapping[str, str]) -> None:
        return None

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None


def backend_name(environ: Mapping[str, str]) -> str:
    """The configured backend, validated; raises ConfigError naming the valid ones."""
    name = environ.get("ANALYTICS_BACKEND", "").strip().lower() or DEFAULT_BACKEND
    if name not in BACKENDS:
        raise ConfigError(f"ANALYTICS_BACKEND={name!r} is not one of: {', '.join(BACKENDS)}")
    return name


def open_sink(environ: Mapping[str, str]) -> AnalyticsSink:
    """Open the sink ``ANALYTICS_BACKEND`` names; ConfigError when it is unknown or cannot start."""
    name = backend_name(environ)
    if name in ("prometheus", "none"):
        return NullSink()
    if name == "sqlite":
        from toolweaver.observability.sqlite_sink import SqliteSink

        path = environ.get("ANALYTICS_DB_PATH", "").strip() or DEFAULT_DB_PATH
        return SqliteSink(Path(path).expanduser())
    if name == "otlp":
        from toolweaver.observability.otlp_sink import otlp_sink

        return otlp_sink(environ)
    return _azure_monitor_sink(environ)


def _azure_monitor_sink(environ: Mapping[str, str]) -> AnalyticsSink:
    connection = environ.get("APPLICATIONINSIGHTS_CONNECTION_STRING", "").strip()
    if not connection:
        raise ConfigError("ANALYTICS_BACKEND=azuremonitor needs APPLICATIONINSIGHTS_CONNECTION_STRING")
    try:
        # importlib keeps mypy from requiring the (heavy, optional) package's stubs.
        azure = importlib.import_module("azure.monitor.opentelemetry")
    except ImportError as exc:
        raise ConfigError(
            "ANALYTICS_BACKEND=azuremonitor needs the package azure-monitor-opentelemetry: "
            "pip install azure-monitor-opentelemetry"
        ) from exc
    from opentelemetry import metrics

    from toolweaver.observability.otlp_sink import OtelSink

    # configure_azure_monitor installs the global MeterProvider; our sink meters through it.
    azure.configure_azure_monitor(connection_string=connection)
    return OtelSink(metrics.get_meter_provider())


class RegistryBridge:
    """Turns a prometheus registry's changes since the last pump into sink records.

    Counters give ``<name>_total`` deltas; histograms give ``<name>_count`` and ``<name>_sum``
    deltas (prometheus keeps no single observations, so a sink sees the sum, not each value).
    """

    def __init__(self, registry: CollectorRegistry, sink: AnalyticsSink) -> None:
        self._registry = registry
        self._sink = sink
        self._last: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self._lock = threading.Lock()

    def pump(self) -> int:
        """Record every non-zero delta; returns how many records went to the sink."""
        sent = 0
        with self._lock:
            for metric in self._registry.collect():
                for sample in metric.samples:
                    if not sample.name.endswith(COUNTER_SUFFIXES):
                        continue  # buckets and _created timestamps: not deltas worth sending
                    labels = tuple(sorted(sample.labels.items()))
                    key = (sample.name, labels)
                    delta = sample.value - self._last.get(key, 0.0)
                    self._last[key] = sample.value
                    if delta:
                        self._sink.record(sample.name, delta, dict(labels))
                        sent += 1
        return sent


class Analytics:
    """The process's sink and its bridge from the prometheus registry; flush and close pump first."""

    def __init__(self, sink: AnalyticsSink, registry: CollectorRegistry | None = None) -> None:
        self.sink = sink
        self.bridge = RegistryBridge(registry, sink) if registry is not None else None

    def record(self, name: str, value: float, attributes: Mapping[str, str] | None = None) -> None:
        self.sink.record(name, value, attributes or {})

    def flush(self) -> None:
        if self.bridge is not None:
            self.bridge.pump()
        self.sink.flush()

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self.sink.close()


# The process's one Analytics, under "current" (a dict, not a rebound global: start/shutdown swap it).
_process: dict[str, Analytics] = {}
_start_lock = threading.Lock()


def start(
    environ: Mapping[str, str],
    registry: CollectorRegistry | None = None,
    *,
    at_exit: Callable[[Callable[[], None]], object] = atexit.register,
) -> Analytics:
    """The process's analytics, opened once (later calls return the same one); closed at exit."""
    with _start_lock:
        started = _process.get("current")
        if started is None:
            if registry is None:
                from toolweaver.observability.metrics import REGISTRY

                registry = REGISTRY
            sink = open_sink(environ)
            # The prometheus backend is the registry itself: nothing to pump.
            bridged = None if isinstance(sink, NullSink) else registry
            started = _process["current"] = Analytics(sink, bridged)
            at_exit(shutdown)
            log.info("analytics backend: %s", backend_name(environ))
        return started


def shutdown() -> None:
    """Flush and close the process's analytics, if started; safe to call twice."""
    with _start_lock:
        current = _process.pop("current", None)
    if current is not None:
        try:
            current.close()
        except Exception:  # shutdown must not mask the real exit reason
            log.exception("analytics shutdown failed")
