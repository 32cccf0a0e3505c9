"""Once per process: open the model, then find, load or build the index of a catalog.

The order is memory, then the store (a fresh instance downloads instead of re-embedding), then a
build that reuses the vectors of the catalog's previous index. ``pointers/<source>.json`` remembers
which index a catalog source had last, so only changed tools are embedded again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass

from toolweaver.catalog import Catalog
from toolweaver.errors import NotFoundError, StorageError
from toolweaver.observability.metrics import CACHE_LOOKUPS, record_build
from toolweaver.search.embed import Embedder, OnnxEmbedder
from toolweaver.search.engine import SearchEngine
from toolweaver.search.fuse import FusionWeights
from toolweaver.search.index import (
    ANY_RECIPE,
    BuildStats,
    ProgressFactory,
    SearchIndex,
    build_index,
    index_key,
    load_index,
    save_index,
)
from toolweaver.settings import Settings
from toolweaver.storage.ports import BlobStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IndexReport:
    key: str
    source: str  # "memory", "store" or "built"
    stats: BuildStats | None


class SearchService:
    """Holds the embedder and the engines of one process; safe to share between threads."""

    def __init__(
        self,
        settings: Settings,
        store: BlobStore,
        *,
        embedder: Embedder | None = None,
        weights: FusionWeights | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.weights = weights
        self._embedder = embedder
        self._engines: dict[str, SearchEngine] = {}
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        """Whether the embedding model is in memory."""
        return self._embedder is not None

    @property
    def engines_loaded(self) -> int:
        return len(self._engines)

    @property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            s = self.settings
            self._embedder = OnnxEmbedder(
                s.embedding_model_dir,
                threads=s.embedding_threads,
                max_length=s.embedding_max_length,
            )
        return self._embedder

    def engine(
        self, catalog: Catalog, *, source: str = "default", progress: ProgressFactory | None = None
    ) -> tuple[SearchEngine, IndexReport]:
        """The engine for ``catalog``: from memory, from the store, or built and stored."""
        with self._lock:
            key = index_key(self.embedder.fingerprint, catalog.catalog_hash)
            engine = self._engines.get(key)
            if engine is not None:
                return engine, IndexReport(key, "memory", None)
            index = load_index(self.store, key)
            report = IndexReport(key, "store", None)
            CACHE_LOOKUPS.labels("index", "miss" if index is None else "hit").inc()
            if index is None:
                started = time.perf_counter()
                index, stats = build_index(
                    catalog, self.embedder, previous=self._previous(source), progress=progress
                )
                save_index(index, self.store)
                record_build(stats, time.perf_counter() - started)
                # Only a build moves the pointer: loading stays read-only, so an instance start
                # costs no write.
                self._remember(source, key)
                report = IndexReport(key, "built", stats)
            engine = SearchEngine(catalog, index, self.embedder, self.weights)
            self._engines = {key: engine}  # one catalog per process at a time keeps memory flat
            return engine, report

    def _pointer(self, source: str) -> str:
        return f"pointers/{hashlib.sha256(source.encode()).hexdigest()[:24]}.json"

    def _previous(self, source: str) -> SearchIndex | None:
        try:
            key = json.loads(self.store.get(self._pointer(source)).data)["key"]
        except (NotFoundError, ValueError, KeyError, TypeError):
            return None
        try:
            return load_index(self.store, str(key), recipe=ANY_RECIPE)
        except StorageError as exc:
            log.warning("not reusing the previous index: %s", exc)
            return None

    def _remember(self, source: str, key: str) -> None:
        self.store.put(self._pointer(source), json.dumps({"key": key}).encode())
