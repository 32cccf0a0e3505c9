"""The ``sqlite`` analytics backend: events in a local SQLite file, and a report over them.

Writes are buffered and go to the file in one transaction every ``batch_size`` records, or on
flush/close: one INSERT per event would put a disk sync on the request path.
"""

from __future__ import annotations

import json
import math
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from toolweaver.observability.sink import HistogramChange

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (ts REAL NOT NULL, name TEXT NOT NULL, value REAL NOT NULL,
                                   attributes TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS events_ts ON events (ts);
"""

Clock = Callable[[], float]


class SqliteSink:
    """An AnalyticsSink writing ``events(ts, name, value, attributes JSON)`` rows; thread-safe."""

    def __init__(self, path: Path, *, batch_size: int = 200, clock: Clock = time.time) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._batch_size = batch_size
        self._clock = clock
        self._lock = threading.Lock()
        self._buffer: list[tuple[float, str, float, str]] = []
        # One connection shared under our lock (check_same_thread off: the lock serialises use).
        self._conn: sqlite3.Connection | None = sqlite3.connect(path, check_same_thread=False)
        self._conn.executescript(_SCHEMA)

    def record(self, name: str, value: float, attributes: Mapping[str, str]) -> None:
        row = (self._clock(), name, float(value), json.dumps(dict(attributes), sort_keys=True))
        with self._lock:
            if self._conn is None:
                return  # closed: late records at shutdown are dropped, not raised
            self._buffer.append(row)
            if len(self._buffer) >= self._batch_size:
                self._write_locked()

    def record_histogram(self, change: HistogramChange) -> None:
        """``<name>_count`` and ``<name>_sum`` rows, and one ``<name>_bucket`` row per ``le`` that
        gained observations (cumulative over ``le``, as Prometheus writes them)."""
        self.record(f"{change.name}_count", change.count, change.attributes)
        self.record(f"{change.name}_sum", change.sum, change.attributes)
        previous = 0
        for le, count in change.cumulative():
            if count != previous:
                self.record(f"{change.name}_bucket", count, {**change.attributes, "le": le})
            previous = count

    def record_gauge(self, name: str, value: float, attributes: Mapping[str, str]) -> None:
        self.record(name, value, attributes)

    def flush(self) -> None:
        with self._lock:
            self._write_locked()

    def close(self) -> None:
        with self._lock:
            self._write_locked()
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _write_locked(self) -> None:
        if not self._buffer or self._conn is None:
            return
        rows, self._buffer = self._buffer, []
        with self._conn:  # one transaction per batch
            self._conn.executemany("INSERT INTO events VALUES (?, ?, ?, ?)", rows)


@dataclass(frozen=True)
class ReportRow:
    """One metric name's events in the window."""

    name: str
    count: int
    sum: float
    avg: float
    p95: float


def report(db_path: Path, since_hours: float = 24, *, now: float | None = None) -> list[ReportRow]:
    """Count, sum, mean and 95th percentile (nearest rank) per name over the last ``since_hours``."""
    since = (time.time() if now is None else now) - since_hours * 3600
    values: dict[str, list[float]] = {}
    conn = sqlite3.connect(f"{db_path.as_uri()}?mode=ro", uri=True)  # a report never creates a file
    try:
        rows = conn.execute("SELECT name, value FROM events WHERE ts >= ? ORDER BY name", (since,))
        for name, value in rows:
            values.setdefault(str(name), []).append(float(value))
    finally:
        conn.close()
    out = []
    for name, vals in values.items():
        vals.sort()
        total = math.fsum(vals)
        p95 = vals[max(0, math.ceil(0.95 * len(vals)) - 1)]
        out.append(ReportRow(name, len(vals), total, total / len(vals), p95))
    return out
