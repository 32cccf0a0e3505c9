"""The catalog store, the TTL cache and the job store on a real Azurite, not the filesystem fake."""

from __future__ import annotations

import threading
import uuid

import pytest

from toolweaver.catalog import Tool
from toolweaver.catalog.store import CatalogStore
from toolweaver.jobs import JobStore
from toolweaver.storage.cache import BlobCache
from toolweaver.storage.connect import StorageConfig, open_blob_store, open_job_queue
from toolweaver.storage.ports import BlobStore

pytestmark = pytest.mark.azurite


@pytest.fixture
def blobs(azurite_connection: str) -> BlobStore:
    config = StorageConfig.from_env({"AzureWebJobsStorage": azurite_connection})
    return open_blob_store(config, f"caches-{uuid.uuid4().hex[:12]}")


def test_many_concurrent_writers_lose_no_tool(blobs: BlobStore) -> None:
    CatalogStore(blobs).current()  # seed version 1 (empty)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        store = CatalogStore(blobs, refresh_seconds=0)  # one instance each, like separate workers
        try:
            for i in range(3):
                store.put_tool(Tool(name=f"w{n}.t{i}", description="written concurrently"))
        except BaseException as exc:  # collected and re-raised in the test thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    final = CatalogStore(blobs).current()
    assert len(final.catalog) == 12 and final.version == 13  # every write became its own version


def test_ttl_expiry_is_read_from_blob_metadata(blobs: BlobStore) -> None:
    now = [5_000.0]
    cache = BlobCache(blobs, "ttl", 3600, clock=lambda: now[0])
    cache.put("k", {"hits": [1, 2]})
    other_instance = BlobCache(blobs, "ttl", 3600, clock=lambda: now[0])
    assert other_instance.get("k") == {"hits": [1, 2]}
    now[0] += 3601
    assert other_instance.get("k") is None


def test_job_idempotency_holds_on_real_storage(blobs: BlobStore, azurite_connection: str) -> None:
    config = StorageConfig.from_env({"AzureWebJobsStorage": azurite_connection})
    queue = open_job_queue(config, f"jobs-{uuid.uuid4().hex[:12]}")
    jobs = JobStore(blobs, queue)
    first, created = jobs.create("search", {"queries": [{"query": "x"}]}, idempotency_key="same")
    again, created_again = jobs.create("search", {"queries": [{"query": "x"}]}, idempotency_key="same")
    assert created and not created_again and again.id == first.id
    assert queue.approximate_count() == 1  # type: ignore[attr-defined]
