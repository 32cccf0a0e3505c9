"""What every analytics backend receives: counter deltas, single values, histogram changes, gauges.

Kept apart from :mod:`toolweaver.observability.analytics` (which opens the backends) so the
backends can import it without importing their opener.

Naming rule for :meth:`AnalyticsSink.record`: a name ending ``_total``, ``_count`` or ``_sum`` is
a monotonic delta (a counter); any other name is one observation (a histogram value).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

COUNTER_SUFFIXES = ("_total", "_count", "_sum")


def is_counter(name: str) -> bool:
    """True when ``name`` carries deltas to add up rather than single observations."""
    return name.endswith(COUNTER_SUFFIXES)


@dataclass(frozen=True)
class HistogramChange:
    """What one histogram series gained since the previous pump, buckets included.

    ``bounds`` are the finite upper bounds in increasing order; ``counts`` has one more entry than
    ``bounds`` and holds the observations per bucket (not cumulative), the last one above every
    bound. ``count`` and ``sum`` are the changes of the series' total count and sum.
    """

    name: str
    attributes: Mapping[str, str]
    bounds: tuple[float, ...]
    counts: tuple[int, ...]
    count: int
    sum: float

    def cumulative(self) -> list[tuple[str, int]]:
        """``(le, observations <= le)`` per bound and ``+Inf``, as Prometheus writes ``_bucket``."""
        running, out = 0, []
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            running += count
            out.append(("+Inf" if bound == float("inf") else _le(bound), running))
        return out


def _le(bound: float) -> str:
    """A bound as prometheus_client writes ``le`` (0.1 -> "0.1", 5 -> "5.0")."""
    return repr(float(bound))


@runtime_checkable
class AnalyticsSink(Protocol):
    """Where analytics go. Recording must be cheap and thread-safe; I/O belongs in flush."""

    def record(self, name: str, value: float, attributes: Mapping[str, str]) -> None: ...

    def record_histogram(self, change: HistogramChange) -> None: ...

    def record_gauge(self, name: str, value: float, attributes: Mapping[str, str]) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class NullSink:
    """Drops everything: the ``none`` backend, and ``prometheus`` (the registry is the backend)."""

    def record(self, name: str, value: float, attributes: Mapping[str, str]) -> None:
        return None

    def record_histogram(self, change: HistogramChange) -> None:
        return None

    def record_gauge(self, name: str, value: float, attributes: Mapping[str, str]) -> None:
        return None

    def flush(self) -> None:
        return None

    def close(self) -> None:
        return None
