"""The catalog in a BlobStore: immutable numbered versions plus one small ETag-guarded head.

    catalog/head.json                       {"version": 7, "key": "catalog/versions/000007-....json", ...}
    catalog/versions/000007-<random>.json   {"version": 7, "updated_at": ..., "tools": [...]}

A change reads the head, writes the next version under a name no other writer can pick, then
moves the head with ``If-Match`` (``If-None-Match: *`` for the first). The head is the only point
of contention: the loser of a race re-reads and re-applies its change on top of the winner's, so
no update is lost, and its unreferenced version blob is pruned later. Instances keep the parsed
catalog in memory and read the small head only every ``refresh_seconds``.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from toolweaver.catalog.loaders import load_catalog
from toolweaver.catalog.model import Catalog, Tool
from toolweaver.errors import CatalogError, NotFoundError, PreconditionFailedError, StorageError
from toolweaver.storage.conflicts import backoff_after_conflict
from toolweaver.storage.ports import BlobStore

log = logging.getLogger(__name__)

HEAD_KEY = "catalog/head.json"
_VERSIONS = "catalog/versions/"
_MAX_ATTEMPTS = 10
_KEEP_VERSIONS = 20  # older versions are pruned after a write; the head never points at them


@dataclass(frozen=True)
class CatalogVersion:
    catalog: Catalog
    version: int
    updated_at: str


Change = Callable[[Catalog], Catalog]


class CatalogStore:
    """Shared catalog with optimistic concurrency. Safe to use from many threads."""

    def __init__(
        self,
        store: BlobStore,
        *,
        seed: Path | None = None,
        refresh_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.seed = seed
        self.refresh_seconds = refresh_seconds
        self._clock = clock
        self._sleep = sleep
        self._current: CatalogVersion | None = None
        self._checked_at = float("-inf")
        self._lock = threading.Lock()

    def current(self) -> CatalogVersion:
        """The newest version, at most ``refresh_seconds`` old; seeds an empty store once."""
        with self._lock:
            now = self._clock()
            if self._current is not None and now - self._checked_at < self.refresh_seconds:
                return self._current
            _, version = self._fresh()
            self._checked_at = now
            return version

    def put_tool(self, tool: Tool, *, if_match: str | None = None) -> tuple[CatalogVersion, bool]:
        """Add or replace one tool; ``if_match`` is the tool's content hash the caller last saw.

        Returns the new version and whether the tool was created.
        """
        created = False

        def change(catalog: Catalog) -> Catalog:
            nonlocal created
            existing = catalog.find(tool.name)
            if if_match is not None and (existing is None or tool_etag(existing) != if_match):
                raise PreconditionFailedError(f"tool {tool.name!r} changed since it was read")
            created = existing is None
            return catalog.with_tools([tool])

        return self.update(change), created

    def delete_tool(self, name: str, *, if_match: str | None = None) -> CatalogVersion:
        def change(catalog: Catalog) -> Catalog:
            existing = catalog.get(name)  # ToolNotFoundError when absent
            if if_match is not None and tool_etag(existing) != if_match:
                raise PreconditionFailedError(f"tool {name!r} changed since it was read")
            return catalog.without(name)

        return self.update(change)

    def import_tools(self, tools: Iterable[Tool], *, replace: bool = False) -> CatalogVersion:
        new = list(tools)
        return self.update(lambda catalog: Catalog(new) if replace else catalog.with_tools(new))

    def update(self, change: Change) -> CatalogVersion:
        """Apply ``change`` to the newest version and store the result as the next version."""
        for attempt in range(_MAX_ATTEMPTS):
            with self._lock:
                base = self._fresh()
            head_etag, base_version = base
            catalog = change(base_version.catalog)
            number = base_version.version + 1
            try:
                written = self._write(catalog, number, head_etag)
            except PreconditionFailedError:
                log.info("another writer moved the catalog to version %d first; re-applying", number)
                self._sleep(backoff_after_conflict(attempt))
                continue
            with self._lock:
                self._current, self._checked_at = written, self._clock()
            self._prune(number)
            return written
        raise StorageError("the catalog is changing too fast: gave up after repeated write conflicts")

    def _fresh(self) -> tuple[str | None, CatalogVersion]:
        """The head's ETag and the version it points at (seeding version 1 into an empty store)."""
        head = self._read_head()
        if head is None:
            self._current = self._seed()
            head = self._read_head()
            return (head[2] if head else None), self._current
        number, key, etag = head
        if self._current is None or self._current.version != number:
            self._current = self._read_version(number, key)
        return etag, self._current

    def _read_head(self) -> tuple[int, str, str] | None:
        try:
            blob = self.store.get(HEAD_KEY)
        except NotFoundError:
            return None
        try:
            head = json.loads(blob.data)
            return int(head["version"]), str(head["key"]), blob.etag
        except (ValueError, KeyError, TypeError) as exc:
            raise StorageError(f"{HEAD_KEY} is damaged: {exc}") from exc

    def _read_version(self, number: int, key: str) -> CatalogVersion:
        blob = self.store.get(key)
        try:
            document = json.loads(blob.data)
            tools = [Tool.from_dict(entry) for entry in document["tools"]]
            return CatalogVersion(Catalog(tools), number, str(document.get("updated_at", "")))
        except (ValueError, KeyError, TypeError) as exc:
            raise StorageError(f"{key} is damaged: {exc}") from exc

    def _seed(self) -> CatalogVersion:
        """Version 1 from the seed file (or empty); when another instance seeded first, use theirs."""
        catalog = load_catalog(self.seed) if self.seed is not None else Catalog()
        try:
            return self._write(catalog, 1, None)
        except PreconditionFailedError:
            head = self._read_head()
            if head is None:
                raise CatalogError("the catalog head vanished while seeding; retry the request") from None
            return self._read_version(head[0], head[1])

    def _write(self, catalog: Catalog, number: int, head_etag: str | None) -> CatalogVersion:
        updated_at = datetime.now(UTC).isoformat(timespec="seconds")
        key = f"{_VERSIONS}{number:06d}-{uuid.uuid4().hex[:12]}.json"
        body = {"version": number, "updated_at": updated_at, "tools": [t.to_dict() for t in catalog]}
        self.store.put(key, json.dumps(body).encode())
        head = {
            "version": number,
            "key": key,
            "catalog_hash": catalog.catalog_hash,
            "tools": len(catalog),
            "updated_at": updated_at,
        }
        data = json.dumps(head).encode()
        if head_etag is None:
            self.store.put(HEAD_KEY, data, if_none_match=True)
        else:
            self.store.put(HEAD_KEY, data, if_match=head_etag)
        return CatalogVersion(catalog, number, updated_at)

    def _prune(self, number: int) -> None:
        """Delete versions more than _KEEP_VERSIONS behind, and race losers' blobs with them."""
        if number % _KEEP_VERSIONS:
            return  # listing costs a request: prune once every _KEEP_VERSIONS writes
        try:
            for key in list(self.store.list(_VERSIONS)):
                if int(key[len(_VERSIONS) :].split("-", 1)[0]) <= number - _KEEP_VERSIONS:
                    self.store.delete(key)
        except (StorageError, ValueError) as exc:
            log.debug("catalog versions not pruned: %s", exc)


def tool_etag(tool: Tool) -> str:
    """The HTTP ETag of one tool: its content hash, quoted."""
    return f'"{tool.content_hash[:32]}"'
