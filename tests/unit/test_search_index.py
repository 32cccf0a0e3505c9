"""Building, storing and incrementally rebuilding the search index (no model: FakeEmbedder)."""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.fakes import FakeEmbedder
from toolweaver.catalog import Catalog, Tool
from toolweaver.errors import StorageError
from toolweaver.search import documents
from toolweaver.search.documents import dense_text, text_hash
from toolweaver.search.index import (
    BM25_ARRAYS,
    FORMAT_VERSION,
    SearchIndex,
    build_index,
    index_key,
    load_index,
    save_index,
)
from toolweaver.search.tokenize import tokenize
from toolweaver.storage import FileSystemBlobStore, StoredBlob

SUBJECTS = (
    "weather",
    "invoice",
    "calendar",
    "email",
    "ticket",
    "currency",
    "contact",
    "file",
    "stock",
    "translation",
)
VERBS = ("list", "create", "delete")


def make_catalog(n: int = 30) -> Catalog:
    tools = []
    for i in range(n):
        subject, verb = SUBJECTS[i % len(SUBJECTS)], VERBS[i // len(SUBJECTS) % len(VERBS)]
        tools.append(
            Tool(
                name=f"{verb}_{subject}_{i}",
                description=f"{verb.capitalize()} {subject} records number {i} for the team.",
                tags=(subject, verb),
                parameters={
                    "type": "object",
                    "properties": {"query": {"type": "string", "description": f"Filter for {subject}."}},
                },
            )
        )
    return Catalog(tools)


def replace_tool(catalog: Catalog, name: str, **changes: Any) -> Catalog:
    return catalog.with_tools([dataclasses.replace(catalog.get(name), **changes)])


@pytest.fixture
def catalog() -> Catalog:
    return make_catalog()


@pytest.fixture
def store(tmp_path: Path) -> FileSystemBlobStore:
    return FileSystemBlobStore(tmp_path / "store")


def assert_same_index(a: SearchIndex, b: SearchIndex) -> None:
    assert a.names == b.names
    assert a.text_hashes == b.text_hashes
    assert a.catalog_hash == b.catalog_hash
    assert a.model_fingerprint == b.model_fingerprint
    assert a.embeddings.dtype == b.embeddings.dtype == np.float32
    np.testing.assert_array_equal(a.embeddings, b.embeddings)
    assert a.bm25.vocabulary == b.bm25.vocabulary
    assert (a.bm25.n_docs, a.bm25.k1, a.bm25.b) == (b.bm25.n_docs, b.bm25.k1, b.bm25.b)
    for name in BM25_ARRAYS:
        np.testing.assert_array_equal(getattr(a.bm25, name), getattr(b.bm25, name))


# Building


def test_build_embeds_every_tool_in_catalog_order(catalog: Catalog) -> None:
    fake = FakeEmbedder()
    index, stats = build_index(catalog, fake)
    assert (stats.tools, stats.embedded, stats.reused) == (30, 30, 0)
    assert fake.texts_embedded == 30
    assert index.names == catalog.names
    assert index.embeddings.shape == (30, fake.dimension)
    assert index.embeddings.dtype == np.float32
    for row, tool in zip(index.embeddings, catalog.tools, strict=True):
        np.testing.assert_array_equal(row, fake.vector(dense_text(tool)))
    np.testing.assert_allclose(np.linalg.norm(index.embeddings, axis=1), 1.0, rtol=1e-5)
    assert index.text_hashes == tuple(text_hash(dense_text(t)) for t in catalog.tools)
    assert index.catalog_hash == catalog.catalog_hash
    assert index.model_fingerprint == fake.fingerprint


def test_build_indexes_bm25_in_catalog_order(catalog: Catalog) -> None:
    index, _ = build_index(catalog, FakeEmbedder())
    assert index.bm25.n_docs == len(catalog)
    scores = index.bm25.scores(tokenize("translation"))
    expected = [i for i, t in enumerate(catalog.tools) if "translation" in t.tags]
    assert [i for i, s in enumerate(scores) if s > 0] == expected


def test_key_depends_on_model_and_catalog(catalog: Catalog) -> None:
    index, _ = build_index(catalog, FakeEmbedder(fingerprint="model-a"))
    other_model, _ = build_index(catalog, FakeEmbedder(fingerprint="model-b"))
    changed = replace_tool(catalog, catalog.names[0], description="Something else entirely.")
    other_catalog, _ = build_index(changed, FakeEmbedder(fingerprint="model-a"))
    assert index.key == index_key("model-a", catalog.catalog_hash)
    assert index.key.startswith("indexes/")
    assert len({index.key, other_model.key, other_catalog.key}) == 3


def test_progress_factory_gets_the_number_to_embed_and_all_ticks(catalog: Catalog) -> None:
    totals: list[int] = []
    ticks: list[int] = []

    def factory(total: int) -> Callable[[int], None]:
        totals.append(total)
        return ticks.append

    fake = FakeEmbedder(batch_size=7)
    first, _ = build_index(catalog, fake, progress=factory)
    assert totals == [30]
    assert sum(ticks) == 30
    assert len(ticks) == 5  # ceil(30 / 7) batches

    totals.clear()
    build_index(catalog, fake, previous=first, progress=factory)
    assert totals == []  # nothing to embed, no progress bar


def test_empty_catalog(store: FileSystemBlobStore) -> None:
    fake = FakeEmbedder()
    index, stats = build_index(Catalog([]), fake)
    assert (stats.tools, stats.embedded) == (0, 0)
    assert index.embeddings.shape == (0, fake.dimension)
    assert fake.calls == 0
    loaded = load_index(store, save_index(index, store))
    assert loaded is not None
    assert loaded.names == ()
    assert loaded.embeddings.shape == (0, fake.dimension)


# Storing


def test_save_and_load_round_trip(catalog: Catalog, store: FileSystemBlobStore) -> None:
    index, _ = build_index(catalog, FakeEmbedder())
    key = save_index(index, store)
    assert key == index.key
    loaded = load_index(store, key)
    assert loaded is not None
    assert_same_index(loaded, index)
    query = tokenize("create invoice for the team")
    np.testing.assert_array_equal(loaded.bm25.scores(query), index.bm25.scores(query))


def test_stored_files_are_plain_npy_and_json(catalog: Catalog, store: FileSystemBlobStore) -> None:
    index, _ = build_index(catalog, FakeEmbedder())
    key = save_index(index, store)
    keys = list(store.list(key + "/"))
    expected = {f"{key}/manifest.json", f"{key}/embeddings.npy"} | {
        f"{key}/bm25-{name}.npy" for name in BM25_ARRAYS
    }
    assert set(keys) == expected
    assert not any(k.endswith((".pkl", ".pickle")) for k in store.list())
    for k in keys:
        data = store.get(k).data
        if k.endswith(".npy"):
            array = np.load(io.BytesIO(data), allow_pickle=False)
            assert array.dtype.kind in "fi"
            assert b"pickle" not in data[:128].lower()
        else:
            manifest = json.loads(data)
            assert manifest["format"] == FORMAT_VERSION
            assert manifest["names"] == list(catalog.names)
            assert manifest["model_fingerprint"] == index.model_fingerprint
            assert manifest["catalog_hash"] == catalog.catalog_hash


class RecordingStore:
    """Wraps a store and records the order of writes."""

    def __init__(self, inner: FileSystemBlobStore) -> None:
        self.inner = inner
        self.puts: list[str] = []

    def get(self, key: str) -> StoredBlob:
        return self.inner.get(key)

    def put(
        self,
        key: str,
        data: bytes,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        self.puts.append(key)
        return self.inner.put(key, data, if_match=if_match, if_none_match=if_none_match, metadata=metadata)

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        self.inner.delete(key, if_match=if_match)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def list(self, prefix: str = "") -> Iterator[str]:
        return self.inner.list(prefix)


def test_manifest_is_written_last(catalog: Catalog, store: FileSystemBlobStore) -> None:
    recording = RecordingStore(store)
    index, _ = build_index(catalog, FakeEmbedder())
    save_index(index, recording)
    assert recording.puts[-1] == f"{index.key}/manifest.json"
    assert len(recording.puts) == 2 + len(BM25_ARRAYS)


def test_load_missing_key_is_none(store: FileSystemBlobStore) -> None:
    assert load_index(store, "indexes/nothing-here") is None


@pytest.mark.parametrize(
    "manifest",
    [
        pytest.param(b"{not json", id="unreadable"),
        pytest.param(json.dumps({"format": FORMAT_VERSION + 1}).encode(), id="newer-format"),
        pytest.param(json.dumps({"names": []}).encode(), id="no-format"),
    ],
)
def test_load_ignores_unreadable_or_foreign_manifest(
    catalog: Catalog, store: FileSystemBlobStore, manifest: bytes
) -> None:
    key = save_index(build_index(catalog, FakeEmbedder())[0], store)
    store.put(f"{key}/manifest.json", manifest)
    assert load_index(store, key) is None


def _valid_npy_of_wrong_size(data: bytes) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.load(io.BytesIO(data))[:-1], allow_pickle=False)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("blob", "damage"),
    [
        pytest.param("embeddings.npy", None, id="embeddings-missing"),
        pytest.param("bm25-weights.npy", None, id="bm25-array-missing"),
        pytest.param("embeddings.npy", lambda d: b"not an npy file", id="embeddings-garbage"),
        pytest.param("embeddings.npy", lambda d: d[: len(d) - 16], id="embeddings-truncated"),
        pytest.param("bm25-idf.npy", lambda d: d[:20], id="bm25-header-truncated"),
    ],
)
def test_load_of_damaged_index_is_storage_error(
    catalog: Catalog,
    store: FileSystemBlobStore,
    blob: str,
    damage: Callable[[bytes], bytes] | None,
) -> None:
    key = save_index(build_index(catalog, FakeEmbedder())[0], store)
    if damage is None:
        store.delete(f"{key}/{blob}")
    else:
        store.put(f"{key}/{blob}", damage(store.get(f"{key}/{blob}").data))
    with pytest.raises(StorageError, match="rebuild"):
        load_index(store, key)


@pytest.mark.parametrize(
    "blob",
    [
        pytest.param("embeddings.npy", id="embeddings"),
        pytest.param("bm25-indptr.npy", id="bm25-indptr"),
    ],
)
def test_load_of_index_with_empty_array_file_is_storage_error(
    catalog: Catalog, store: FileSystemBlobStore, blob: str
) -> None:
    key = save_index(build_index(catalog, FakeEmbedder())[0], store)
    store.put(f"{key}/{blob}", b"")
    with pytest.raises(StorageError, match="rebuild"):
        load_index(store, key)


@pytest.mark.parametrize(
    "blob",
    [
        pytest.param("embeddings.npy", id="embeddings-row-missing"),
        pytest.param("bm25-indptr.npy", id="bm25-indptr-short"),
    ],
)
def test_load_of_index_with_wrong_array_shape_is_storage_error(
    catalog: Catalog, store: FileSystemBlobStore, blob: str
) -> None:
    key = save_index(build_index(catalog, FakeEmbedder())[0], store)
    store.put(f"{key}/{blob}", _valid_npy_of_wrong_size(store.get(f"{key}/{blob}").data))
    with pytest.raises(StorageError):
        load_index(store, key)


# Incremental rebuilds


def test_changed_description_embeds_only_that_tool(catalog: Catalog) -> None:
    fake = FakeEmbedder()
    first, _ = build_index(catalog, fake)
    target = catalog.names[17]
    changed = replace_tool(catalog, target, description="Now it forecasts hurricanes over the sea.")
    fake.reset_counts()

    index, stats = build_index(changed, fake, previous=first)

    assert (stats.tools, stats.embedded, stats.reused) == (30, 1, 29)
    assert fake.texts_embedded == 1
    assert fake.embedded == [dense_text(changed.get(target))]
    full, _ = build_index(changed, FakeEmbedder())
    assert_same_index(index, full)
    row = changed.names.index(target)
    assert not np.array_equal(index.embeddings[row], first.embeddings[row])


def test_previous_index_from_the_store_is_reused(catalog: Catalog, store: FileSystemBlobStore) -> None:
    fake = FakeEmbedder()
    key = save_index(build_index(catalog, fake)[0], store)
    previous = load_index(store, key)
    changed = replace_tool(catalog, catalog.names[3], description="Completely rewritten text.")
    fake.reset_counts()
    index, stats = build_index(changed, fake, previous=previous)
    assert stats.embedded == fake.texts_embedded == 1
    assert_same_index(index, build_index(changed, FakeEmbedder())[0])


def test_parameter_change_reembeds_nothing_but_updates_bm25(catalog: Catalog) -> None:
    fake = FakeEmbedder()
    first, _ = build_index(catalog, fake)
    target = catalog.names[5]
    changed = replace_tool(
        catalog,
        target,
        parameters={"type": "object", "properties": {"zeppelin": {"type": "string"}}},
    )
    fake.reset_counts()
    index, stats = build_index(changed, fake, previous=first)
    assert stats.embedded == fake.texts_embedded == 0
    assert index.catalog_hash != first.catalog_hash
    hits = index.bm25.scores(["zeppelin"])
    assert [i for i, s in enumerate(hits) if s > 0] == [changed.names.index(target)]


def test_added_removed_and_reordered_tools(catalog: Catalog) -> None:
    fake = FakeEmbedder()
    first, _ = build_index(catalog, fake)
    tools = list(reversed(catalog.tools[2:]))
    tools.append(Tool(name="brand_new_tool", description="Orders pizza for the office."))
    changed = Catalog(tools)
    fake.reset_counts()
    index, stats = build_index(changed, fake, previous=first)
    assert (stats.tools, stats.embedded, stats.reused) == (29, 1, 28)
    assert fake.embedded == [dense_text(changed.get("brand_new_tool"))]
    assert_same_index(index, build_index(changed, FakeEmbedder())[0])


def test_identical_rebuild_embeds_nothing(catalog: Catalog) -> None:
    fake = FakeEmbedder()
    first, _ = build_index(catalog, fake)
    fake.reset_counts()
    again, stats = build_index(catalog, fake, previous=first)
    assert (stats.embedded, stats.reused) == (0, 30)
    assert fake.calls == 0
    assert_same_index(again, first)


def test_different_model_reuses_nothing(catalog: Catalog) -> None:
    first, _ = build_index(catalog, FakeEmbedder(fingerprint="model-a"))
    other = FakeEmbedder(fingerprint="model-b", dimension=32)
    index, stats = build_index(catalog, other, previous=first)
    assert (stats.embedded, stats.reused) == (30, 0)
    assert other.texts_embedded == 30
    assert index.embeddings.shape == (30, 32)
    assert index.model_fingerprint == "model-b"


def test_same_dimension_different_model_does_not_copy_vectors(catalog: Catalog) -> None:
    first, _ = build_index(catalog, FakeEmbedder(fingerprint="model-a"))
    poisoned = dataclasses.replace(first, embeddings=np.full_like(first.embeddings, 0.5))
    other = FakeEmbedder(fingerprint="model-b")
    index, _ = build_index(catalog, other, previous=poisoned)
    assert not np.any(index.embeddings == 0.5)
    np.testing.assert_array_equal(index.embeddings, build_index(catalog, FakeEmbedder())[0].embeddings)


@pytest.mark.parametrize(
    ("name", "title", "expected"),
    [
        pytest.param("ResearchHelper", "ResearchHelper", "research helper", id="glued-title-split"),
        pytest.param("ChatOCR", "ChatOCR", "chat ocr", id="glued-acronym-split"),
        pytest.param("m1", "mobilenet_v2_100_224", "mobilenet_v2_100_224", id="model-id-kept"),
        pytest.param("m2", "facebook/bart-base", "facebook/bart-base", id="slashed-id-kept"),
        pytest.param("m3", "Weather Forecast", "Weather Forecast", id="prose-title-kept"),
        pytest.param("get_weatherForecast", None, "get weather forecast", id="untitled-name-split"),
    ],
)
def test_dense_name_splits_only_glued_words(name: str, title: str | None, expected: str) -> None:
    tool = Tool(name=name, description="Something useful.", title=title)
    assert documents.dense_name(tool) == expected
    assert dense_text(tool) == f"{expected} | Something useful."


def test_a_word_of_the_name_outweighs_the_same_word_in_a_shorter_description() -> None:
    # The name counts NAME_REPEAT times for BM25: a tool named for the word beats one that merely
    # mentions it, even when the mention sits in a shorter text (once each, the shorter one wins).
    named = Tool(
        name="invoice_tool",
        description="Handles many kinds of accounting documents for finance teams every single day "
        "of the week.",
    )
    mentions = Tool(name="ledger_tool", description="Files each invoice in the ledger.")
    index, _ = build_index(Catalog([named, mentions]), FakeEmbedder())
    scores = index.bm25.scores(tokenize("invoice"))
    assert scores[0] > scores[1] > 0
