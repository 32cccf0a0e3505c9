"""FileSystemBlobStore: the BlobStore contract (ETags, conditions, keys, metadata) on a local directory."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from toolweaver.errors import NotFoundError, PreconditionFailedError, StorageError
from toolweaver.storage import BlobStore, FileSystemBlobStore


@pytest.fixture
def store(tmp_path: Path) -> FileSystemBlobStore:
    return FileSystemBlobStore(tmp_path / "blobs")


def files_under(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_satisfies_the_blob_store_port(store: FileSystemBlobStore) -> None:
    port: BlobStore = store  # checked by mypy; at run time, exercise the port through it
    port.put("k", b"v")
    assert port.get("k").data == b"v"


def test_put_then_get_round_trips_bytes(store: FileSystemBlobStore) -> None:
    data = bytes(range(256)) * 3
    etag = store.put("dir/sub/blob.bin", data)
    blob = store.get("dir/sub/blob.bin")
    assert blob.data == data
    assert blob.etag == etag
    assert blob.metadata == {}
    assert (store.root / "dir" / "sub" / "blob.bin").read_bytes() == data


def test_put_overwrites(store: FileSystemBlobStore) -> None:
    store.put("k", b"one")
    store.put("k", b"two")
    assert store.get("k").data == b"two"


def test_empty_blob(store: FileSystemBlobStore) -> None:
    store.put("empty", b"")
    assert store.get("empty").data == b""
    assert store.exists("empty")


def test_etag_follows_content(store: FileSystemBlobStore) -> None:
    first = store.put("a", b"same")
    again = store.put("a", b"same")
    other_key = store.put("b", b"same")
    changed = store.put("a", b"different")
    assert first == again == other_key
    assert changed != first
    assert store.get("a").etag == changed
    assert first.startswith('"') and first.endswith('"') and len(first) > 2


def test_get_missing_raises_not_found(store: FileSystemBlobStore) -> None:
    with pytest.raises(NotFoundError, match="nope/missing"):
        store.get("nope/missing")


def test_delete_removes_blob_and_metadata(store: FileSystemBlobStore) -> None:
    store.put("k", b"v", metadata={"owner": "me"})
    store.delete("k")
    assert not store.exists("k")
    assert files_under(store.root) == []
    with pytest.raises(NotFoundError):
        store.get("k")


def test_delete_missing_raises_not_found(store: FileSystemBlobStore) -> None:
    with pytest.raises(NotFoundError):
        store.delete("missing")


def test_delete_with_matching_etag(store: FileSystemBlobStore) -> None:
    etag = store.put("k", b"v")
    store.delete("k", if_match=etag)
    assert not store.exists("k")


def test_delete_with_stale_etag_keeps_blob(store: FileSystemBlobStore) -> None:
    stale = store.put("k", b"v1")
    store.put("k", b"v2")
    with pytest.raises(PreconditionFailedError):
        store.delete("k", if_match=stale)
    assert store.get("k").data == b"v2"


def test_exists(store: FileSystemBlobStore) -> None:
    assert not store.exists("a/b")
    store.put("a/b", b"x")
    assert store.exists("a/b")
    assert not store.exists("a")  # a folder is not a blob


def test_if_none_match_creates_a_new_key(store: FileSystemBlobStore) -> None:
    store.put("new", b"v", if_none_match=True)
    assert store.get("new").data == b"v"


def test_if_none_match_on_existing_key_fails_and_keeps_content(store: FileSystemBlobStore) -> None:
    store.put("k", b"original")
    with pytest.raises(PreconditionFailedError):
        store.put("k", b"replacement", if_none_match=True)
    assert store.get("k").data == b"original"


def test_if_match_current_etag_writes(store: FileSystemBlobStore) -> None:
    etag = store.put("k", b"v1")
    new_etag = store.put("k", b"v2", if_match=etag)
    assert store.get("k").data == b"v2"
    assert new_etag != etag


def test_if_match_stale_etag_fails_and_keeps_content(store: FileSystemBlobStore) -> None:
    stale = store.put("k", b"v1")
    store.put("k", b"v2")
    with pytest.raises(PreconditionFailedError):
        store.put("k", b"v3", if_match=stale)
    assert store.get("k").data == b"v2"


def test_if_match_on_missing_key_fails(store: FileSystemBlobStore) -> None:
    with pytest.raises(PreconditionFailedError):
        store.put("missing", b"v", if_match='"0123"')
    assert not store.exists("missing")


def test_precondition_and_not_found_are_storage_errors() -> None:
    assert issubclass(PreconditionFailedError, StorageError)
    assert issubclass(NotFoundError, StorageError)


@pytest.mark.parametrize(
    "key",
    [
        pytest.param("", id="empty"),
        pytest.param("..", id="dotdot"),
        pytest.param("../escape", id="dotdot-prefix"),
        pytest.param("a/../../escape", id="dotdot-inside"),
        pytest.param(".", id="dot"),
        pytest.param("a/./b", id="dot-inside"),
        pytest.param("/etc/passwd", id="absolute"),
        pytest.param("a//b", id="empty-segment"),
        pytest.param("a/", id="trailing-slash"),
        pytest.param("blob.meta.json", id="metadata-suffix"),
        pytest.param("dir/blob.meta.json", id="nested-metadata-suffix"),
    ],
)
def test_invalid_keys_are_rejected_by_every_operation(store: FileSystemBlobStore, key: str) -> None:
    operations: dict[str, Callable[[], object]] = {
        "put": lambda: store.put(key, b"x"),
        "get": lambda: store.get(key),
        "delete": lambda: store.delete(key),
        "exists": lambda: store.exists(key),
    }
    for name, operation in operations.items():
        with pytest.raises(StorageError, match="invalid blob key") as info:
            operation()
        assert not isinstance(info.value, NotFoundError), name
    parent = store.root.parent
    assert [p.name for p in parent.iterdir()] in ([], ["blobs"])
    assert not (parent / "escape").exists()


def test_metadata_round_trip(store: FileSystemBlobStore) -> None:
    meta = {"content-type": "application/json", "catalog": "demo", "ünïcode": "✓"}
    etag = store.put("doc.json", b"{}", metadata=meta)
    blob = store.get("doc.json")
    assert blob.metadata == meta
    assert blob.etag == etag


def test_put_without_metadata_clears_old_metadata(store: FileSystemBlobStore) -> None:
    store.put("k", b"v1", metadata={"a": "1"})
    store.put("k", b"v2")
    assert store.get("k").metadata == {}


def test_metadata_does_not_change_the_etag(store: FileSystemBlobStore) -> None:
    plain = store.put("k", b"v")
    with_meta = store.put("k", b"v", metadata={"a": "1"})
    assert plain == with_meta


def test_metadata_files_are_not_listed(store: FileSystemBlobStore) -> None:
    store.put("a", b"1", metadata={"x": "y"})
    assert list(store.list()) == ["a"]


def test_list_all_sorted_with_nested_keys(store: FileSystemBlobStore) -> None:
    for key in ("pointers/b.json", "indexes/k2/manifest.json", "indexes/k1/embeddings.npy", "top"):
        store.put(key, b"x")
    assert list(store.list()) == [
        "indexes/k1/embeddings.npy",
        "indexes/k2/manifest.json",
        "pointers/b.json",
        "top",
    ]


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        pytest.param("indexes/", ["indexes/k1/a.npy", "indexes/k1/b.npy", "indexes/k2/a.npy"], id="folder"),
        pytest.param("indexes/k1/", ["indexes/k1/a.npy", "indexes/k1/b.npy"], id="subfolder"),
        pytest.param("indexes/k1/b", ["indexes/k1/b.npy"], id="partial-name"),
        pytest.param("pointers/", [], id="no-match"),
        pytest.param("", ["indexes/k1/a.npy", "indexes/k1/b.npy", "indexes/k2/a.npy", "other"], id="empty"),
    ],
)
def test_list_with_prefix(store: FileSystemBlobStore, prefix: str, expected: list[str]) -> None:
    for key in ("indexes/k1/a.npy", "indexes/k1/b.npy", "indexes/k2/a.npy", "other"):
        store.put(key, b"x")
    assert list(store.list(prefix)) == expected


def test_list_of_a_store_without_a_root_is_empty(tmp_path: Path) -> None:
    assert list(FileSystemBlobStore(tmp_path / "never-created").list()) == []


def test_list_hides_temporary_files_of_unfinished_writes(store: FileSystemBlobStore) -> None:
    store.put("dir/real", b"x")
    (store.root / "dir" / ".tmp-abc123").write_bytes(b"half a blob")
    assert list(store.list()) == ["dir/real"]


def test_failed_write_leaves_old_content_and_no_temporary_file(
    store: FileSystemBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.put("dir/k", b"old")

    def full_disk(self: Path, target: Path) -> Path:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "replace", full_disk)
    with pytest.raises(StorageError, match="No space left"):
        store.put("dir/k", b"new")
    monkeypatch.undo()
    assert store.get("dir/k").data == b"old"
    assert files_under(store.root) == ["dir/k"]


def test_writes_leave_no_temporary_files(store: FileSystemBlobStore) -> None:
    for i in range(5):
        store.put("a/b", f"v{i}".encode(), metadata={"i": str(i)})
    assert files_under(store.root) == ["a/b", "a/b.meta.json"]


def test_readers_never_see_half_a_blob(store: FileSystemBlobStore) -> None:
    versions = [bytes([i]) * 200_000 for i in range(1, 4)]
    store.put("big", versions[0])
    stop = threading.Event()
    seen: list[bytes] = []

    def reader() -> None:
        while True:
            seen.append(store.get("big").data)
            if stop.is_set():
                return

    thread = threading.Thread(target=reader)
    thread.start()
    deadline = time.monotonic() + 2.0
    writes = 0
    try:
        while (len(seen) < 30 or writes < 30) and time.monotonic() < deadline:
            store.put("big", versions[writes % len(versions)])
            writes += 1
    finally:
        stop.set()
        thread.join()
    assert len(seen) > 1
    assert all(data in versions for data in seen)


def test_concurrent_conditional_writers_exactly_one_wins(store: FileSystemBlobStore) -> None:
    etag = store.put("counter", b"0")
    writers = 8
    barrier = threading.Barrier(writers)
    won: list[int] = []
    lost: list[int] = []
    lock = threading.Lock()

    def write(i: int) -> None:
        barrier.wait()
        try:
            store.put("counter", f"writer {i}".encode(), if_match=etag)
        except PreconditionFailedError:
            with lock:
                lost.append(i)
        else:
            with lock:
                won.append(i)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1
    assert len(lost) == writers - 1
    assert store.get("counter").data == f"writer {won[0]}".encode()


def test_concurrent_creators_exactly_one_wins(store: FileSystemBlobStore) -> None:
    writers = 8
    barrier = threading.Barrier(writers)
    results: list[str] = []
    lock = threading.Lock()

    def create(i: int) -> None:
        barrier.wait()
        try:
            store.put("lease", f"owner {i}".encode(), if_none_match=True)
            outcome = f"won {i}"
        except PreconditionFailedError:
            outcome = "lost"
        with lock:
            results.append(outcome)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    winners = [r for r in results if r.startswith("won")]
    assert len(winners) == 1
    assert results.count("lost") == writers - 1
    assert store.get("lease").data == f"owner {winners[0].split()[1]}".encode()


def test_optimistic_update_loop_loses_no_increment(store: FileSystemBlobStore) -> None:
    store.put("n", b"0")

    def increment() -> None:
        for _ in range(20):
            while True:
                blob = store.get("n")
                try:
                    store.put("n", str(int(blob.data) + 1).encode(), if_match=blob.etag)
                    break
                except PreconditionFailedError:
                    continue

    threads = [threading.Thread(target=increment) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert int(store.get("n").data) == 80


def test_two_store_objects_share_one_directory(tmp_path: Path) -> None:
    first = FileSystemBlobStore(tmp_path)
    second = FileSystemBlobStore(tmp_path)
    etag = first.put("k", b"v", metadata={"m": "1"})
    blob = second.get("k")
    assert (blob.data, blob.etag, blob.metadata) == (b"v", etag, {"m": "1"})


def test_blob_under_a_file_is_a_storage_error(store: FileSystemBlobStore) -> None:
    store.put("a", b"file")
    with pytest.raises(StorageError):
        store.put("a/b", b"under a file")
    with pytest.raises(StorageError):
        store.get("a/b")
