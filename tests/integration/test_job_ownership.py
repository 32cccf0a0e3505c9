"""Jobs belong to their caller, and one Idempotency-Key makes one job even under a race (Azurite)."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

from tests.fakes import RecordingQueue
from toolweaver.errors import NotFoundError
from toolweaver.jobs import JobStore
from toolweaver.storage.connect import StorageConfig, open_blob_store
from toolweaver.storage.ports import BlobStore

pytestmark = pytest.mark.azurite

PAYLOAD = {"queries": [{"query": "send an email"}]}


class ClaimsMeet:
    """A BlobStore that holds each idempotency claim until the other writer arrives too, so two
    creates with one key are certain to race on the create-if-absent write."""

    def __init__(self, inner: BlobStore) -> None:
        self._inner = inner
        self._barrier = threading.Barrier(2, timeout=10)

    def put(self, key: str, data: bytes, **options: Any) -> Any:
        if key.startswith("idempotency/"):
            self._barrier.wait()
        return self._inner.put(key, data, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


@pytest.fixture
def blob_store(azurite_connection: str) -> BlobStore:
    config = StorageConfig.from_env({"AzureWebJobsStorage": azurite_connection})
    return open_blob_store(config, f"jobs-{uuid.uuid4().hex[:10]}")


def test_another_caller_neither_reads_the_job_nor_replays_the_key(blob_store: BlobStore) -> None:
    queue = RecordingQueue()
    jobs = JobStore(blob_store, queue)
    mine, created = jobs.create("search", PAYLOAD, idempotency_key="k-1", owner="key:alice")
    assert created
    assert jobs.get(mine.id, owner="key:alice")[0].id == mine.id
    with pytest.raises(NotFoundError, match="does not exist"):
        jobs.get(mine.id, owner="key:bob")
    theirs, created = jobs.create("search", PAYLOAD, idempotency_key="k-1", owner="key:bob")
    assert created and theirs.id != mine.id
    replay, created = jobs.create("search", PAYLOAD, idempotency_key="k-1", owner="key:alice")
    assert not created and replay.id == mine.id
    assert len(queue.messages) == 2
    assert "owner" not in mine.public()


def test_owner_and_key_cannot_be_spliced_into_another_pair(blob_store: BlobStore) -> None:
    jobs = JobStore(blob_store, RecordingQueue())
    first, _ = jobs.create("search", PAYLOAD, idempotency_key="b:c", owner="a")
    second, created = jobs.create("search", PAYLOAD, idempotency_key="c", owner="a:b")
    assert created and second.id != first.id


def test_two_creates_with_one_key_at_the_same_moment_make_one_job(blob_store: BlobStore) -> None:
    queue = RecordingQueue()
    jobs = JobStore(ClaimsMeet(blob_store), queue)  # type: ignore[arg-type]
    results: list[Any] = [None, None]

    def create(i: int) -> None:
        results[i] = jobs.create("search", PAYLOAD, idempotency_key="race-1", owner="key:alice")

    threads = [threading.Thread(target=create, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    (first, first_created), (second, second_created) = results
    assert first.id == second.id
    assert sorted([first_created, second_created]) == [False, True]
    assert len(queue.messages) == 1
    # the loser's record was removed: only the winner's job exists
    records = list(blob_store.list("jobs/"))
    assert len(records) == 1
