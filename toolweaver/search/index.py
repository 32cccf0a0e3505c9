"""The search index: embedding matrix + BM25 state, built incrementally, stored as plain files.

An index is keyed by the embedding model's fingerprint, the catalog hash and the digest of
everything else that shapes it (``recipe.index_recipe``: tokenizer, stemmer, stop words, BM25
parameters, text builders), so a changed model, catalog or recipe is never served a stale index.
Files (never pickles) under ``indexes/<key>/``:
``manifest.json`` (tool names, embedding-text hashes, recipe, BM25 vocabulary and parameters),
``embeddings.npy`` and ``bm25-<array>.npy``. When the catalog changes, vectors of tools whose
embedding text did not change are copied from the previous index instead of recomputed.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from toolweaver.catalog import Catalog
from toolweaver.errors import NotFoundError, StorageError
from toolweaver.search import documents
from toolweaver.search.bm25 import BM25Index
from toolweaver.search.documents import text_hash
from toolweaver.search.embed import Embedder
from toolweaver.search.recipe import bm25_parameters, index_recipe
from toolweaver.storage.ports import BlobStore

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
ProgressFactory = Callable[[int], Callable[[int], None]]


@dataclass(frozen=True)
class SearchIndex:
    names: tuple[str, ...]
    text_hashes: tuple[str, ...]
    embeddings: npt.NDArray[np.float32]  # [tools, dimension], unit rows, catalog order
    bm25: BM25Index
    catalog_hash: str
    model_fingerprint: str
    recipe: str  # index_recipe() when it was built; "" for an index stored before recipes

    @property
    def key(self) -> str:
        return index_key(self.model_fingerprint, self.catalog_hash, self.recipe)


@dataclass(frozen=True)
class BuildStats:
    tools: int
    embedded: int
    reused: int


def index_key(model_fingerprint: str, catalog_hash: str, recipe: str | None = None) -> str:
    """Where the index of this model, catalog and recipe (default: the one in force) is stored."""
    recipe = index_recipe() if recipe is None else recipe
    return f"indexes/{model_fingerprint[:16]}-{catalog_hash[:16]}-{recipe[:16]}"


def build_index(
    catalog: Catalog,
    embedder: Embedder,
    *,
    previous: SearchIndex | None = None,
    progress: ProgressFactory | None = None,
) -> tuple[SearchIndex, BuildStats]:
    """Index ``catalog``; rows of ``previous`` (same model) are reused for unchanged tool texts."""
    tools = catalog.tools
    recipe = index_recipe()
    texts = [documents.dense_text(t) for t in tools]
    hashes = tuple(text_hash(t) for t in texts)
    known: dict[str, int] = {}
    if previous is not None and previous.model_fingerprint == embedder.fingerprint:
        known = {h: i for i, h in enumerate(previous.text_hashes)}
    missing = [i for i, h in enumerate(hashes) if h not in known]
    embeddings = np.zeros((len(tools), embedder.dimension), dtype=np.float32)
    for i, h in enumerate(hashes):
        if h in known and previous is not None:
            embeddings[i] = previous.embeddings[known[h]]
    if missing:
        tick = progress(len(missing)) if progress else None
        embeddings[missing] = embedder.embed([texts[i] for i in missing], progress=tick)
    bm25 = BM25Index.build([documents.bm25_tokens(t) for t in tools], **bm25_parameters())
    index = SearchIndex(
        names=catalog.names,
        text_hashes=hashes,
        embeddings=embeddings,
        bm25=bm25,
        catalog_hash=catalog.catalog_hash,
        model_fingerprint=embedder.fingerprint,
        recipe=recipe,
    )
    stats = BuildStats(tools=len(tools), embedded=len(missing), reused=len(tools) - len(missing))
    log.info("indexed %d tools (%d embedded, %d reused)", stats.tools, stats.embedded, stats.reused)
    return index, stats


def save_index(index: SearchIndex, store: BlobStore) -> str:
    """Write the index under its key; the manifest goes last, so a reader never sees half an index."""
    key = index.key
    header, arrays = index.bm25.to_state()
    store.put(f"{key}/embeddings.npy", _npy(index.embeddings))
    for name, array in arrays.items():
        store.put(f"{key}/bm25-{name}.npy", _npy(array))
    manifest = {
        "format": FORMAT_VERSION,
        "catalog_hash": index.catalog_hash,
        "model_fingerprint": index.model_fingerprint,
        "recipe": index.recipe,
        "names": list(index.names),
        "text_hashes": list(index.text_hashes),
        "bm25": header,
    }
    store.put(f"{key}/manifest.json", json.dumps(manifest, separators=(",", ":")).encode())
    return key


ANY_RECIPE = "*"


def load_index(store: BlobStore, key: str, *, recipe: str | None = None) -> SearchIndex | None:
    """The index stored under ``key``, or None when there is none, or it is from another format.

    It must also have been built with ``recipe`` (default: the one in force), so an index is never
    served with another tokenizer or BM25 than the one that reads it, whatever key it was found
    under. ``ANY_RECIPE`` accepts any: a previous index lends its vectors, never its BM25.
    """
    try:
        manifest = json.loads(store.get(f"{key}/manifest.json").data)
    except NotFoundError:
        return None
    except ValueError:
        log.warning("ignoring unreadable index manifest %s", key)
        return None
    if manifest.get("format") != FORMAT_VERSION:
        return None
    stored_recipe = str(manifest.get("recipe", ""))
    wanted = index_recipe() if recipe is None else recipe
    if wanted not in (ANY_RECIPE, stored_recipe):
        log.info("not serving index %s: built with another recipe", key)
        return None
    try:
        embeddings = _load_npy(store.get(f"{key}/embeddings.npy").data)
        arrays = {n: _load_npy(store.get(f"{key}/bm25-{n}.npy").data) for n in BM25_ARRAYS}
        _check_shapes(manifest, embeddings, arrays)
    except (NotFoundError, ValueError, EOFError, KeyError) as exc:
        raise StorageError(f"index {key} is incomplete or corrupt ({exc}): rebuild it with `index`") from exc
    return SearchIndex(
        names=tuple(manifest["names"]),
        text_hashes=tuple(manifest["text_hashes"]),
        embeddings=embeddings.astype(np.float32, copy=False),
        bm25=BM25Index.from_state(manifest["bm25"], arrays),
        catalog_hash=str(manifest["catalog_hash"]),
        model_fingerprint=str(manifest["model_fingerprint"]),
        recipe=stored_recipe,
    )


BM25_ARRAYS = ("idf", "indptr", "doc_ids", "weights")


def _check_shapes(manifest: dict[str, Any], embeddings: npt.NDArray[Any], arrays: dict[str, Any]) -> None:
    """A damaged but well-formed array must fail here, not later inside a search."""
    n_tools, n_terms = len(manifest["names"]), len(manifest["bm25"]["terms"])
    postings = int(arrays["indptr"][-1]) if len(arrays["indptr"]) else -1
    problems = [
        embeddings.ndim != 2 or embeddings.shape[0] != n_tools,
        len(manifest["text_hashes"]) != n_tools,
        arrays["idf"].shape != (n_terms,),
        arrays["indptr"].shape != (n_terms + 1,),
        arrays["doc_ids"].shape != (postings,) or arrays["weights"].shape != (postings,),
    ]
    if any(problems):
        raise ValueError("array shapes do not match the manifest")


def _npy(array: npt.NDArray[Any]) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _load_npy(data: bytes) -> npt.NDArray[Any]:
    return np.load(io.BytesIO(data), allow_pickle=False)  # type: ignore[no-any-return]
