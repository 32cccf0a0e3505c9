"""BlobCache: TTL from blob metadata, the memory tier in front, counts, and failure handling."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from toolweaver.errors import StorageError, StorageUnavailableError
from toolweaver.observability.metrics import cache_totals
from toolweaver.storage.cache import EXPIRES_AT, BlobCache, cache_key
from toolweaver.storage.filesystem import FileSystemBlobStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class BrokenStore(FileSystemBlobStore):
    def __init__(self, root: Path, error: Exception) -> None:
        super().__init__(root)
        self.error = error

    def get(self, key: str) -> Any:
        raise self.error

    def put(self, key: str, data: bytes, **kwargs: Any) -> str:
        raise self.error


@pytest.fixture
def clock() -> Clock:
    return Clock()


def test_an_entry_lives_until_its_ttl_and_then_reads_as_expired(tmp_path: Path, clock: Clock) -> None:
    store = FileSystemBlobStore(tmp_path)
    cache = BlobCache(store, "ttl-test", 60, clock=clock)
    cache.put("k", {"v": 1})
    assert store.get("ttl-test/k.json").metadata[EXPIRES_AT] == "1060"
    clock.now += 59
    assert cache.get("k") == {"v": 1}
    clock.now += 2
    assert cache.get("k") is None
    assert cache_totals()["ttl-test"] == {"hit": 1, "expired": 1}


def test_the_memory_tier_answers_without_storage_and_evicts_the_oldest(tmp_path: Path, clock: Clock) -> None:
    store = FileSystemBlobStore(tmp_path)
    cache = BlobCache(store, "memory-test", 60, clock=clock, memory_entries=2)
    for key in ("a", "b", "c"):
        cache.put(key, key, remote=False)
    assert list(store.list("")) == []  # remote=False never touched the store
    assert cache.get("a", remote=False) is None  # evicted: the oldest of three with room for two
    assert cache.get("c", remote=False) == "c"
    clock.now += 61
    assert cache.get("c", remote=False) is None  # memory entries keep their expiry too


def test_a_blob_written_by_another_instance_is_a_hit_here(tmp_path: Path, clock: Clock) -> None:
    store = FileSystemBlobStore(tmp_path)
    BlobCache(store, "shared-test", 60, clock=clock).put("k", [1, 2])
    assert BlobCache(store, "shared-test", 60, clock=clock, memory_entries=8).get("k") == [1, 2]


def test_storage_errors_read_as_misses_but_an_outage_is_raised(tmp_path: Path) -> None:
    flaky = BlobCache(BrokenStore(tmp_path, StorageError("bad blob")), "err-test", 60)
    assert flaky.get("k") is None
    flaky.put("k", 1)  # logged, not raised: a cache never fails the request it speeds up
    down = BlobCache(BrokenStore(tmp_path, StorageUnavailableError("down")), "down-test", 60)
    with pytest.raises(StorageUnavailableError):
        down.get("k")


def test_cache_keys_ignore_dict_order_but_not_values() -> None:
    assert cache_key({"a": 1, "b": 2}) == cache_key({"b": 2, "a": 1})
    assert cache_key({"a": 1}) != cache_key({"a": 2})
