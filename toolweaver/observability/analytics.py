"""One analytics interface over several backends, chosen by ``ANALYTICS_BACKEND``.

The prometheus_client instruments in :mod:`toolweaver.observability.metrics` stay the source of
truth: call sites keep incrementing them, and :class:`RegistryBridge` turns what changed since the
last pump into ``record()`` calls on the configured sink. So ``prometheus`` (the default) is the
current behaviour with no extra sink, and a push backend never needs a call site of its own.

Naming rule shared by the bridge and the sinks: a name ending ``_total``, ``_count`` or ``_sum`` is
a monotonic delta (a counter); any other name is one observation (a histogram value).

Backends: ``prometheus`` | ``otlp`` | ``azuremonitor`` | ``sqlite`` | ``none``, from
:class:`toolweaver.settings.Settings`. ``otlp`` and ``azuremonitor`` also carry the traces
(:mod:`toolweaver.observability.tracing`). Push backends get what changed every
``ANALYTICS_INTERVAL_SECONDS`` from a daemon thread, and everything left at shutdown.
"""

from __future__ import annotations

import atexit
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from prometheus_client import CollectorRegistry

from toolweaver.settings import ANALYTICS_BACKENDS, Settings

log = logging.getLogger(__name__)

BACKENDS = ANALYTICS_BACKENDS
COUNTER_SUFFIXES = ("_total", "_count", "_sum")
DEFAULT_INTERVAL_S = 15.0


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


# The process's one Analytics, under "current" (a dict, not a rebound global: start/shutdown swap it).
_process: dict[str, Analytics] = {}
_start_lock = threading.Lock()


def current() -> Analytics | None:
    return _process.get("current")


def start(
    settings: Settings,
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
            sink = open_sink(settings)
            # The prometheus backend is the registry itself: nothing to pump.
            bridged = None if isinstance(sink, NullSink) else registry
            started = _process["current"] = Analytics(sink, bridged, backend=settings.analytics_backend)
            started.start_pump(float(settings.analytics_interval))
            at_exit(shutdown)
            log.info("analytics backend: %s", settings.analytics_backend)
        return started


def shutdown() -> None:
    """Flush and close the process's analytics, if started; safe to call twice."""
    from toolweaver.observability import tracing

    with _start_lock:
        current = _process.pop("current", None)
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
