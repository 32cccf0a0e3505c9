"""A TTL cache over a BlobStore: the expiry travels with the blob as metadata.

Azure metadata keys must be valid C# identifiers, hence ``expires_at``. Expired entries read as a
miss and are overwritten by the next put; a lifecycle rule in storage removes the ones nobody asks
for again. Every lookup is counted as hit, miss or expired.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from toolweaver.errors import NotFoundError, StorageError, StorageUnavailableError
from toolweaver.observability.metrics import CACHE_LOOKUPS
from toolweaver.storage.ports import BlobStore

log = logging.getLogger(__name__)

EXPIRES_AT = "expires_at"


def cache_key(*parts: object) -> str:
    """A stable key for any JSON-able parts (sorted keys), as 40 hex characters."""
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:40]


class BlobCache:
    """JSON values under ``<prefix>/<key>.json`` that expire ``ttl_seconds`` after they were written.

    A cache must never fail the request it speeds up: storage errors other than "unavailable" are
    logged and read as a miss; an unavailable store is re-raised so the caller can answer 503.
    With ``memory_entries`` a small per-process LRU sits in front of the blobs, so a hot entry
    costs no storage round trip; it keeps each entry's expiry too.
    """

    def __init__(
        self,
        store: BlobStore,
        name: str,
        ttl_seconds: int,
        *,
        clock: Callable[[], float] = time.time,
        memory_entries: int = 0,
    ) -> None:
        self.store = store
        self.name = name
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._memory: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._memory_entries = memory_entries
        self._lock = threading.Lock()

    def _key(self, key: str) -> str:
        return f"{self.name}/{key}.json"

    def get(self, key: str, *, remote: bool = True) -> Any | None:  # noqa: PLR0911 - one exit per outcome
        """The value, from memory first; ``remote=False`` asks memory only (a miss is not counted)."""
        if self._memory_entries:
            with self._lock:
                entry = self._memory.get(key)
                if entry is not None and entry[0] > self._clock():
                    self._memory.move_to_end(key)
                    CACHE_LOOKUPS.labels(self.name, "hit").inc()
                    return entry[1]
        if not remote:
            return None
        try:
            blob = self.store.get(self._key(key))
        except NotFoundError:
            self._count("miss")
            return None
        except StorageUnavailableError:
            raise
        except StorageError as exc:
            log.warning("%s cache read failed, treating as a miss: %s", self.name, exc)
            self._count("miss")
            return None
        try:
            expires_at = float(blob.metadata.get(EXPIRES_AT, "0"))
        except ValueError:
            expires_at = 0.0
        if expires_at <= self._clock():
            self._count("expired")
            return None
        try:
            value = json.loads(blob.data)
        except ValueError:
            self._count("miss")
            return None
        CACHE_LOOKUPS.labels(self.name, "hit").inc()
        self._remember(key, expires_at, value)
        return value

    def put(self, key: str, value: Any, *, remote: bool = True) -> None:
        """Store in memory and, unless ``remote=False``, in the blob store for other instances."""
        expires_at = self._clock() + self.ttl_seconds
        self._remember(key, expires_at, value)
        if not remote:
            return
        data = json.dumps(value, separators=(",", ":")).encode()
        try:
            self.store.put(self._key(key), data, metadata={EXPIRES_AT: f"{expires_at:.0f}"})
        except StorageUnavailableError:
            raise
        except StorageError as exc:
            log.warning("%s cache write failed: %s", self.name, exc)

    def _remember(self, key: str, expires_at: float, value: Any) -> None:
        if not self._memory_entries:
            return
        with self._lock:
            self._memory[key] = (expires_at, value)
            self._memory.move_to_end(key)
            while len(self._memory) > self._memory_entries:
                self._memory.popitem(last=False)

    def _count(self, result: str) -> None:
        CACHE_LOOKUPS.labels(self.name, result).inc()
