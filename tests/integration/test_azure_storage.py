"""AzureBlobStore and AzureJobQueue against a real Azurite: the BlobStore and JobQueue contracts,
ETag races, the Functions host's base64 messages, and failing fast when storage goes away."""

from __future__ import annotations

import base64
import threading
import time
import uuid
from collections.abc import Callable

import pytest
from azure.storage.queue import QueueClient

from toolweaver.devhost.azurite import Azurite
from toolweaver.errors import NotFoundError, PreconditionFailedError, StorageError, StorageUnavailableError
from toolweaver.storage.azure_blob import AzureBlobStore
from toolweaver.storage.azure_queue import AzureJobQueue
from toolweaver.storage.connect import StorageConfig, open_blob_store, open_job_queue
from toolweaver.storage.ports import BlobStore, JobQueue

pytestmark = pytest.mark.azurite


def unique(prefix: str) -> str:
    """A fresh container or queue name: 3-63 lowercase letters, digits and hyphens."""
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


def config_for(connection_string: str) -> StorageConfig:
    return StorageConfig.from_env({"AzureWebJobsStorage": connection_string})


@pytest.fixture
def config(azurite_connection: str) -> StorageConfig:
    return config_for(azurite_connection)


@pytest.fixture
def store(config: StorageConfig) -> BlobStore:
    return open_blob_store(config, unique("blobs"))


def run_together(workers: list[Callable[[], object]]) -> list[object]:
    """Start all workers at one barrier; each result is its return value or the exception it raised."""
    barrier = threading.Barrier(len(workers))
    results: list[object] = [None] * len(workers)

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = workers[i]()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


# --- blobs -------------------------------------------------------------------------------------


def test_open_gives_the_adapters_behind_the_ports(config: StorageConfig) -> None:
    name = unique("same")
    assert isinstance(open_blob_store(config, name), AzureBlobStore)
    assert open_blob_store(config, name) is open_blob_store(config, name)  # one pooled client
    assert isinstance(open_job_queue(config, name), AzureJobQueue)


def test_round_trip_with_metadata_creates_the_container(store: BlobStore) -> None:
    data = bytes(range(256)) * 5
    etag = store.put("jobs/2024/job-1.json", data, metadata={"expires_at": "1700000000", "Kind": "job"})
    blob = store.get("jobs/2024/job-1.json")
    assert blob.data == data
    assert blob.etag == etag
    assert dict(blob.metadata) == {"expires_at": "1700000000", "Kind": "job"}
    assert store.exists("jobs/2024/job-1.json")


def test_overwrite_replaces_data_and_metadata(store: BlobStore) -> None:
    first = store.put("k", b"one", metadata={"a": "1"})
    second = store.put("k", b"two")
    blob = store.get("k")
    assert (blob.data, dict(blob.metadata), blob.etag) == (b"two", {}, second)
    assert first != second


def test_empty_blob(store: BlobStore) -> None:
    store.put("empty", b"")
    assert store.get("empty").data == b""


def test_missing_container_reads_as_empty(store: BlobStore) -> None:
    with pytest.raises(NotFoundError, match="nothing-here"):
        store.get("nothing-here")
    assert not store.exists("nothing-here")
    assert list(store.list()) == []
    with pytest.raises(NotFoundError):
        store.delete("nothing-here")


def test_get_of_a_missing_key_names_it(store: BlobStore) -> None:
    store.put("present", b"x")  # the container exists: this is BlobNotFound, not ContainerNotFound
    with pytest.raises(NotFoundError, match=r"dir/absent\.bin"):
        store.get("dir/absent.bin")


def test_if_none_match_creates_once(store: BlobStore) -> None:
    etag = store.put("lock", b"first", if_none_match=True)
    with pytest.raises(PreconditionFailedError, match="already exists"):
        store.put("lock", b"second", if_none_match=True)
    assert (store.get("lock").data, store.get("lock").etag) == (b"first", etag)


def test_if_match_on_a_missing_key_fails(store: BlobStore) -> None:
    etag = store.put("other", b"x")
    with pytest.raises(PreconditionFailedError):
        store.put("never-written", b"y", if_match=etag)
    assert not store.exists("never-written")


def test_if_match_and_if_none_match_together_is_refused(store: BlobStore) -> None:
    with pytest.raises(StorageError, match="not both"):
        store.put("k", b"x", if_match='"0x1"', if_none_match=True)


def test_two_writers_one_etag_no_lost_update(store: BlobStore) -> None:
    store.put("counter", b"0")
    seen = store.get("counter").etag
    winner = store.put("counter", b"from-a", if_match=seen)
    with pytest.raises(PreconditionFailedError, match="changed since it was read"):
        store.put("counter", b"from-b", if_match=seen)
    final = store.get("counter")
    assert (final.data, final.etag) == (b"from-a", winner)


def test_concurrent_writers_on_one_etag_exactly_one_wins(store: BlobStore) -> None:
    store.put("doc", b"start")
    seen = store.get("doc").etag
    payloads = [f"writer-{i}".encode() for i in range(8)]
    results = run_together([lambda p=p: store.put("doc", p, if_match=seen) for p in payloads])
    wins = [(p, r) for p, r in zip(payloads, results, strict=True) if isinstance(r, str)]
    assert len(wins) == 1, results
    assert all(isinstance(r, PreconditionFailedError) for r in results if not isinstance(r, str))
    final = store.get("doc")
    assert (final.data, final.etag) == wins[0]


def test_concurrent_first_writes_share_one_container_creation(config: StorageConfig) -> None:
    store = open_blob_store(config, unique("race"))
    results = run_together([lambda i=i: store.put(f"k{i}", b"v") for i in range(8)])
    assert all(isinstance(r, str) for r in results), results
    assert sorted(store.list()) == sorted(f"k{i}" for i in range(8))


def test_delete_with_a_stale_etag_fails_and_keeps_the_blob(store: BlobStore) -> None:
    stale = store.put("k", b"one")
    current = store.put("k", b"two")
    with pytest.raises(PreconditionFailedError):
        store.delete("k", if_match=stale)
    assert store.get("k").data == b"two"
    store.delete("k", if_match=current)
    assert not store.exists("k")
    with pytest.raises(NotFoundError):
        store.delete("k")


def test_list_by_prefix(store: BlobStore) -> None:
    for key in ("indexes/v1/a.bin", "indexes/v1/b.bin", "indexes/v2/a.bin", "jobs/1.json"):
        store.put(key, b"x")
    assert list(store.list("indexes/v1/")) == ["indexes/v1/a.bin", "indexes/v1/b.bin"]
    assert list(store.list("indexes/")) == ["indexes/v1/a.bin", "indexes/v1/b.bin", "indexes/v2/a.bin"]
    assert len(list(store.list())) == 4
    assert list(store.list("nope/")) == []


@pytest.mark.parametrize(
    ("metadata", "named"),
    [
        pytest.param({"expires-at": "1"}, "expires-at", id="hyphen"),
        pytest.param({"1st": "1"}, "1st", id="leading-digit"),
        pytest.param({"has space": "1"}, "has space", id="space"),
        pytest.param({"Kind": "a", "kind": "b"}, "kind", id="same-key-other-case"),
        pytest.param({"note": "café"}, "note", id="non-ascii-value"),
        pytest.param({"note": " padded "}, "note", id="value-trimmed-by-http"),
        pytest.param({"big": "x" * 9000}, "8192", id="over-8-KiB"),
    ],
)
def test_bad_metadata_is_refused_before_writing(
    store: BlobStore, metadata: dict[str, str], named: str
) -> None:
    with pytest.raises(StorageError, match=named):
        store.put("k", b"x", metadata=metadata)
    assert not store.exists("k")


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("", id="empty"),
        pytest.param("a/../b", id="dot-dot"),
        pytest.param("a//b", id="empty-segment"),
        pytest.param("./a", id="dot"),
        pytest.param("k" * 1025, id="too-long"),
    ],
)
def test_invalid_keys_are_refused(store: BlobStore, key: str) -> None:
    with pytest.raises(StorageError, match="invalid blob key"):
        store.put(key, b"x")
    with pytest.raises(StorageError, match="invalid blob key"):
        store.get(key)


def test_wrong_account_key_names_the_role_and_hides_the_key(azurite: Azurite) -> None:
    wrong_key = base64.b64encode(b"not-the-key-" * 3).decode()
    connection = azurite.connection_string.replace(azurite.endpoints.account_key, wrong_key)
    store = open_blob_store(config_for(connection), unique("denied"))
    with pytest.raises(StorageError, match="Storage Blob Data Contributor") as caught:
        store.get("k")
    assert wrong_key not in str(caught.value)
    assert azurite.endpoints.account_key not in str(caught.value)


# --- queue -------------------------------------------------------------------------------------


def receive_raw(connection_string: str, queue: str) -> list[str]:
    """What a Functions host would receive: the message text exactly as stored."""
    client = QueueClient.from_connection_string(connection_string, queue)
    return [str(m.content) for m in client.receive_messages(messages_per_page=32)]


@pytest.mark.parametrize(
    "message",
    [
        pytest.param("job-3f2a9c", id="job-id"),
        pytest.param('{"job": "7", "note": "ünïcode ✓"}', id="json-unicode"),
    ],
)
def test_send_is_base64_for_the_functions_host(azurite_connection: str, message: str) -> None:
    name = unique("jobs")
    queue: JobQueue = open_job_queue(config_for(azurite_connection), name)
    queue.send(message)
    [raw] = receive_raw(azurite_connection, name)
    assert base64.b64decode(raw, validate=True).decode("utf-8") == message


def test_visibility_timeout_delays_delivery(azurite_connection: str) -> None:
    name = unique("later")
    queue = open_job_queue(config_for(azurite_connection), name)
    assert isinstance(queue, AzureJobQueue)
    assert queue.approximate_count() == 0  # queue not created yet
    queue.send("job-1", visibility_timeout=60)
    assert queue.approximate_count() == 1
    assert receive_raw(azurite_connection, name) == []


def test_oversized_message_is_refused(azurite_connection: str) -> None:
    queue = open_job_queue(config_for(azurite_connection), unique("big"))
    with pytest.raises(StorageError, match="job id"):
        queue.send("x" * 60_000)


# --- faults ------------------------------------------------------------------------------------


def test_storage_down_fails_fast_then_recovers() -> None:
    with Azurite() as emulator:
        config = config_for(emulator.connection_string)
        store = open_blob_store(config, unique("fault"))
        queue = open_job_queue(config, unique("fault"))
        etag = store.put("k", b"kept")
        queue.send("before")

        emulator.stop()
        for call in (lambda: store.get("k"), lambda: queue.send("during")):
            started = time.monotonic()
            with pytest.raises(StorageUnavailableError, match=r"unreachable at 127\.0\.0\.1") as caught:
                call()
            assert time.monotonic() - started < 15, "retry policy too slow for a serverless call"
            assert emulator.endpoints.account_key not in str(caught.value)

        emulator.start()  # same ports, same data folder
        blob = store.get("k")
        assert (blob.data, blob.etag) == (b"kept", etag)
        queue.send("after")
        assert isinstance(queue, AzureJobQueue)
        assert queue.approximate_count() == 2
