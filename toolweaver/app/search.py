"""Tool search with its result cache: the memory tier always, Blob Storage where it pays."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from toolweaver.observability.metrics import SEARCH_LATENCY
from toolweaver.storage.cache import BlobCache, cache_key

if TYPE_CHECKING:
    from toolweaver.catalog.store import CatalogVersion
    from toolweaver.search.engine import SearchEngine
    from toolweaver.search.service import IndexReport

    EngineSource = Callable[[], tuple[CatalogVersion, SearchEngine, IndexReport]]


@dataclass(frozen=True)
class SearchQuery:
    """One search; the faces check sizes and choices before they build one."""

    query: str
    top_k: int = 5
    mode: str = "hybrid"
    tags: list[str] | None = None
    backend: str | None = None
    min_score: float | None = None


class ToolSearch:
    """Hits for a query, from the result cache when the same catalog was asked the same thing.

    Blob Storage is asked and written only for catalogs whose searches cost at least
    ``shared_min_ms`` (SEARCH_CACHE_MIN_MS): below that, the round trip costs more than it
    saves. The cost is a running average per index, kept here for the life of the process.
    """

    def __init__(self, engine: EngineSource, cache: BlobCache, *, shared_min_ms: float) -> None:
        self._engine = engine
        self._cache = cache
        self.shared_min_ms = shared_min_ms
        self._costs: dict[str, float] = {}  # index key -> recent CPU milliseconds per search
        self._lock = threading.Lock()

    def cost_ms(self, index_key: str) -> float | None:
        """The running average cost of one search on this index, once one has been computed."""
        return self._costs.get(index_key)

    def search(self, request: SearchQuery) -> dict[str, Any]:
        """``catalog_version``, ``results`` (hits as dicts, best first) and ``cached``."""
        started = time.perf_counter()
        version, engine, report = self._engine()
        key = cache_key(report.key, dataclasses.asdict(request))
        threshold = self.shared_min_ms
        shared = self._costs.get(report.key, threshold) >= threshold
        cached = self._cache.get(key, remote=shared)
        if cached is not None:
            SEARCH_LATENCY.labels("hit").observe(time.perf_counter() - started)
            return {**cached, "cached": True}
        computing = time.thread_time()  # CPU, not wall: under load, waiting would look like cost
        hits = engine.search(
            request.query,
            top_k=request.top_k,
            mode=request.mode,
            tags=request.tags,
            backend=request.backend,
            min_score=request.min_score,
        )
        cost_ms = (time.thread_time() - computing) * 1000
        with self._lock:
            previous = self._costs.get(report.key, cost_ms)
            self._costs[report.key] = 0.8 * previous + 0.2 * cost_ms  # recent searches weigh most
        result = {"catalog_version": version.version, "results": [hit.to_dict() for hit in hits]}
        self._cache.put(key, result, remote=cost_ms >= threshold)
        SEARCH_LATENCY.labels("miss").observe(time.perf_counter() - started)
        return {**result, "cached": False}
