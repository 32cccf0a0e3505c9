"""The index key covers everything that shapes an index: change any part and the old index is not served."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.fakes import FakeEmbedder
from toolweaver.catalog import Catalog, Tool, load_catalog
from toolweaver.search import documents, recipe, tokenize
from toolweaver.search.index import ANY_RECIPE, build_index, index_key, load_index, save_index
from toolweaver.search.service import SearchService
from toolweaver.settings import DEMO_CATALOG, Settings
from toolweaver.storage import FileSystemBlobStore

Change = Callable[[pytest.MonkeyPatch], None]


def _stem_more(word: str) -> str:
    return word[:5]  # a "stemmer upgrade": cut every word to five letters


def _tokens_without_tags(tool: Tool) -> list[str]:
    return tokenize.tokenize(documents.display_name(tool)) + tokenize.tokenize(tool.description)


def _dense_without_tags(tool: Tool) -> str:
    return f"{documents.display_name(tool)} | {tool.description}"


def _split_no_digits(text: str) -> list[str]:
    return [w.lower() for w in re.findall(r"[A-Za-z]+", text)]


CHANGES = [
    pytest.param(lambda mp: mp.setattr(recipe, "BM25_K1", 1.5), id="bm25-k1"),
    pytest.param(lambda mp: mp.setattr(recipe, "BM25_B", 0.75), id="bm25-b"),
    pytest.param(
        lambda mp: mp.setattr(tokenize, "STOP_WORDS", tokenize.STOP_WORDS | {"weather"}), id="stop-word-added"
    ),
    pytest.param(
        lambda mp: mp.setattr(tokenize, "STOP_WORDS", tokenize.STOP_WORDS - {"find"}), id="stop-word-removed"
    ),
    pytest.param(lambda mp: mp.setattr(tokenize, "stem", _stem_more), id="stemmer"),
    pytest.param(lambda mp: mp.setattr(tokenize, "split_words", _split_no_digits), id="tokenizer-split"),
    pytest.param(lambda mp: mp.setattr(documents, "NAME_REPEAT", 3), id="name-repeat"),
    pytest.param(
        lambda mp: mp.setattr(documents, "bm25_tokens", _tokens_without_tags), id="bm25-text-builder"
    ),
    pytest.param(
        lambda mp: mp.setattr(documents, "dense_text", _dense_without_tags), id="dense-text-builder"
    ),
]


@pytest.fixture(scope="module")
def demo() -> Catalog:
    return load_catalog(DEMO_CATALOG)


@pytest.fixture
def store(tmp_path: Path) -> FileSystemBlobStore:
    return FileSystemBlobStore(tmp_path / "cache")


@pytest.mark.parametrize("change", CHANGES)
def test_a_change_to_the_recipe_builds_a_new_index(
    change: Change, demo: Catalog, store: FileSystemBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    old, report = SearchService(Settings(), store, embedder=FakeEmbedder()).engine(demo)
    assert report.source == "built"
    old_recipe = recipe.index_recipe()

    change(monkeypatch)

    assert recipe.index_recipe() != old_recipe
    assert index_key("fake-bow-v1", demo.catalog_hash) != report.key
    # A fresh process (new service, same store) builds instead of loading the old index...
    new, again = SearchService(Settings(), store, embedder=FakeEmbedder()).engine(demo)
    assert again.source == "built"
    assert again.key != report.key
    assert new.index.recipe == recipe.index_recipe()
    # ...and the old index is not served even when asked for by its own key.
    assert load_index(store, report.key) is None
    assert load_index(store, report.key, recipe=ANY_RECIPE) is not None
    assert old.index.recipe == old_recipe


@pytest.mark.parametrize("change", CHANGES)
def test_a_recipe_change_that_keeps_the_embedding_text_reuses_vectors(
    change: Change, demo: Catalog, store: FileSystemBlobStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    SearchService(Settings(), store, embedder=FakeEmbedder()).engine(demo)
    texts_before = [documents.dense_text(t) for t in demo]
    change(monkeypatch)
    embedder = FakeEmbedder()
    _, report = SearchService(Settings(), store, embedder=embedder).engine(demo)
    assert report.stats is not None
    changed = sum(a != documents.dense_text(t) for a, t in zip(texts_before, demo, strict=True))
    assert report.stats.embedded == embedder.texts_embedded == changed


def test_the_recipe_is_stable_while_nothing_changes(demo: Catalog) -> None:
    assert recipe.index_recipe() == recipe.index_recipe()
    first, _ = build_index(demo, FakeEmbedder())
    second, _ = build_index(demo, FakeEmbedder())
    assert first.key == second.key
    assert first.recipe == recipe.index_recipe()


def test_the_model_fingerprint_is_part_of_the_key(demo: Catalog, store: FileSystemBlobStore) -> None:
    _, a = SearchService(Settings(), store, embedder=FakeEmbedder(fingerprint="model-a")).engine(demo)
    _, b = SearchService(Settings(), store, embedder=FakeEmbedder(fingerprint="model-b")).engine(demo)
    assert b.source == "built"
    assert a.key != b.key


def test_the_build_reads_the_bm25_parameters_the_key_holds(
    demo: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recipe, "BM25_K1", 2.0)
    monkeypatch.setattr(recipe, "BM25_B", 0.6)
    index, _ = build_index(demo, FakeEmbedder())
    assert (index.bm25.k1, index.bm25.b) == (2.0, 0.6)


def test_an_index_stored_before_recipes_lends_vectors_but_is_not_served(
    demo: Catalog, store: FileSystemBlobStore
) -> None:
    index, _ = build_index(demo, FakeEmbedder())
    legacy = index.__class__(**{**index.__dict__, "recipe": ""})
    key = save_index(legacy, store)
    assert load_index(store, key) is None
    assert load_index(store, key, recipe=ANY_RECIPE) is not None
