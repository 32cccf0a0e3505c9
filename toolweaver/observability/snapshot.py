"""The daily snapshot: the day's figures as one JSON document in Blob Storage.

A timer function runs once a day, shortly after midnight UTC, on one instance (timer triggers
are singletons), and writes ``snapshots/<YYYY-MM-DD>.json`` for the day that just ended:

- ``counters``: what this instance counted since its previous snapshot (or its start), per
  counter and label value, from the same registry ``GET /api/metrics`` shows. Instances count
  apart; Azure Monitor or an OTLP collector holds the fleet-wide figures.
- ``skills``: every skill's health (shared by all instances, so fleet-wide).
- ``catalog``: its version and size.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from toolweaver.observability.metrics import counter_totals
from toolweaver.services import Services

log = logging.getLogger(__name__)

PREFIX = "snapshots/"
Totals = dict[str, dict[str, float]]


def snapshot_key(day: date) -> str:
    return f"{PREFIX}{day.isoformat()}.json"


class CounterBaseline:
    """The counter totals at this process's previous snapshot, to report what changed since."""

    def __init__(self, totals: Callable[[], Totals] = counter_totals) -> None:
        self._totals = totals
        self._last: Totals | None = None
        self._lock = threading.Lock()

    def since_last(self) -> tuple[Totals, bool]:
        """Counter deltas since the previous call (all totals the first time), and whether there was one."""
        with self._lock:
            now = self._totals()
            before, self._last = self._last, now
        if before is None:
            return now, False
        deltas: Totals = {}
        for name, group in now.items():
            changed = {key: value - before.get(name, {}).get(key, 0.0) for key, value in group.items()}
            changed = {key: value for key, value in changed.items() if value}
            if changed:
                deltas[name] = changed
        return deltas, True


BASELINE = CounterBaseline()  # one per process: the registry it reads is the process's


def counters_since_last() -> tuple[Totals, bool]:
    """Counter deltas since this process's previous snapshot, and whether there was one."""
    return BASELINE.since_last()


def build_snapshot(services: Services, day: date, *, baseline: CounterBaseline = BASELINE) -> dict[str, Any]:
    counters, had_previous = baseline.since_last()
    version = services.catalog.current()
    skills = [tool for tool in version.catalog if tool.backend == "skill"]
    now = services.skill_stats.clock()
    return {
        "date": day.isoformat(),
        "written_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "counters_since": "previous snapshot" if had_previous else "instance start",
        "instance_uptime_seconds": round(services.uptime, 1),
        "counters": counters,
        "catalog": {"version": version.version, "tools": len(version.catalog)},
        "skills": {tool.name: services.skill_stats.get(tool.name).health(now) for tool in skills},
    }


def write_daily_snapshot(services: Services, *, today: date | None = None) -> str:
    """Write the snapshot of the day before ``today`` (UTC); returns its blob key."""
    day = (today or datetime.now(UTC).date()) - timedelta(days=1)
    document = build_snapshot(services, day)
    key = snapshot_key(day)
    services.cache_store.put(key, json.dumps(document, indent=2, sort_keys=True).encode())
    log.info("daily snapshot written to %s/%s", services.settings.cache_container, key)
    return key
