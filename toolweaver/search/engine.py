"""Query time: score every tool with BM25 and the embedding model, fuse, filter, rank, explain."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from toolweaver.catalog import Catalog, Tool
from toolweaver.errors import SearchError
from toolweaver.search.embed import Embedder
from toolweaver.search.fuse import FusionWeights, Signals, Span, clause_spans, fuse
from toolweaver.search.index import SearchIndex
from toolweaver.search.tokenize import tokenize, words_by_token

SEARCH_MODES = ("hybrid", "bm25", "dense")
MAX_QUERY_CHARS = 10_000
MAX_TOP_K = 100
# A word of the request that looks like an identifier (get_weather, crm.lookup, PDFReader).
_IDENTIFIER = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*[A-Za-z0-9]")
_CODE_LIKE = re.compile(r"[_.-]|[a-z][A-Z]")


@dataclass(frozen=True)
class SearchHit:
    tool: Tool
    score: float
    bm25: float
    dense: float
    matched_terms: tuple[str, ...]
    exact: bool

    @property
    def explanation(self) -> str:
        parts = ["exact name match"] if self.exact else []
        if self.matched_terms:
            parts.append("matched " + ", ".join(self.matched_terms))
        parts.append(f"bm25 {self.bm25:.2f}, dense {self.dense:.2f}")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.tool.name,
            "title": self.tool.title,
            "description": self.tool.description,
            "tags": list(self.tool.tags),
            "backend": self.tool.backend,
            "score": round(self.score, 4),
            "bm25": round(self.bm25, 4),
            "dense": round(self.dense, 4),
            "matched_terms": list(self.matched_terms),
            "exact_match": self.exact,
            "explanation": self.explanation,
        }


class SearchEngine:
    def __init__(
        self, catalog: Catalog, index: SearchIndex, embedder: Embedder, weights: FusionWeights | None = None
    ) -> None:
        if index.names != catalog.names:
            raise SearchError("the index does not belong to this catalog: rebuild it with `index`")
        self.catalog = catalog
        self.index = index
        self.embedder = embedder
        self.weights = weights or FusionWeights()
        self._tools = catalog.tools
        self._exact_names: dict[str, int] = {}
        self._code_names: dict[str, int] = {}
        self._backends = np.array([tool.backend for tool in self._tools])
        self._tagged: dict[str, list[int]] = {}
        for i, tool in enumerate(self._tools):
            for tag in {t.lower() for t in tool.tags}:
                self._tagged.setdefault(tag, []).append(i)
            for label in filter(None, (tool.name, tool.title)):
                self._exact_names.setdefault(label.lower(), i)
            if len(tool.name) >= 4 and _CODE_LIKE.search(tool.name):
                self._code_names.setdefault(tool.name.lower(), i)

    def search(
        self,
        query: str,
        *,
        top_k: int = 5,
        mode: str = "hybrid",
        tags: Iterable[str] | None = None,
        backend: str | None = None,
        min_score: float | None = None,
    ) -> list[SearchHit]:
        """The ``top_k`` best tools for ``query``, exact name matches first, best first."""
        text = _check_query(query, top_k, mode)
        tokens = tokenize(text)
        bm25 = dense = None
        if mode == "hybrid":
            signals = self.signals(text, tokens)
            bm25, dense = signals.bm25[0], signals.dense[0]
            scores = fuse(signals, self.weights)
        elif mode == "bm25":
            scores = bm25 = self.index.bm25.scores(tokens)
        else:
            scores = dense = self._dense_scores(text, [])[0]
        allowed = self._allowed(tags, backend)  # None: no filter
        exact = [i for i in self.exact_matches(text) if allowed is None or allowed[i]]
        if mode == "bm25":  # BM25 alone knows nothing about tools that share no term
            allowed = scores > 0 if allowed is None else allowed & (scores > 0)
        candidates = scores if allowed is None else np.where(allowed, scores, np.float32(-np.inf))
        order = exact + [i for i in _top(candidates, top_k) if i not in exact]
        chosen = [i for i in order[:top_k] if min_score is None or scores[i] >= min_score or i in exact]
        words = words_by_token(text)
        terms = self.index.bm25.matched_terms_of(tokens, chosen)
        return [
            SearchHit(
                tool=self._tools[i],
                score=float(scores[i]),
                bm25=float(bm25[i]) if bm25 is not None else 0.0,
                dense=float(dense[i]) if dense is not None else 0.0,
                matched_terms=tuple(words.get(t, t) for t in matched),
                exact=i in exact,
            )
            for i, matched in zip(chosen, terms, strict=True)
        ]

    def _dense_scores(self, text: str, spans: list[Span]) -> npt.NDArray[np.float32]:
        """Cosine of every tool with the request (row 0), then with each of its clauses.

        The request and its clauses go to the embedder in one call: each text still runs through
        the model on its own (int8 activations are scaled per run, so a text's vector never
        depends on what runs beside it), but the runs share the embedder's workers instead of the
        clauses waiting for the request. Clauses are embedded, not pooled from the request's token
        vectors: that is cheaper, but attention blends the other clauses in ("email the contract"
        then ranked the ticket tools first), which is what splitting is meant to undo.
        """
        vectors = self.embedder.embed([text, *(text[a:b] for a, b in spans)])
        return cosines(self.index.embeddings, vectors)

    def signals(self, text: str, tokens: list[str] | None = None) -> Signals:
        """BM25 and cosine scores of every tool for the request, then for each of its clauses."""
        spans = clause_spans(text)
        rows = [tokens if tokens is not None else tokenize(text)]
        rows += [tokenize(text[a:b]) for a, b in spans]
        bm25 = np.stack([self.index.bm25.scores(r) for r in rows])
        return Signals(bm25=bm25, dense=self._dense_scores(text, spans))

    def _allowed(self, tags: Iterable[str] | None, backend: str | None) -> npt.NDArray[np.bool_] | None:
        """Which tools pass the filters (None: no filter), by array lookups, no loop over the catalog."""
        if not backend and not tags:
            return None
        allowed = np.ones(len(self._tools), dtype=bool)
        if backend:
            allowed &= self._backends == backend
        if tags:
            with_tag = np.zeros(len(self._tools), dtype=bool)
            for tag in tags:
                with_tag[self._tagged.get(tag.lower(), [])] = True
            allowed &= with_tag
        return allowed

    def exact_matches(self, text: str) -> list[int]:
        """Tools the request names: the whole request is a name or title, or it contains an identifier."""
        whole = self._exact_names.get(text.strip("`'\" ").lower())
        found = [whole] if whole is not None else []
        for word in _IDENTIFIER.findall(text):
            i = self._code_names.get(word.lower())
            if i is not None and i not in found:
                found.append(i)
        return found


# The largest matrix product (rows x dimension x vectors) that OpenBLAS runs on the calling thread:
# 65,536 x its GEMM_MULTITHREAD_THRESHOLD of 4. ``cosines`` never hands it a larger one.
ONE_THREAD_PRODUCT = 262_144


def cosines(matrix: npt.NDArray[np.float32], vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """``vectors @ matrix.T``, one block of catalog rows at a time.

    Each block's product is small enough for OpenBLAS to keep on this thread. A whole-matrix
    product woke OpenBLAS's threads, which then spin-wait and took the second core from the next
    request's model runs (10,000 tools: p95 22 ms with them, 16 ms without). Blocks are also
    better than one matrix-vector product per vector: a block is read from memory once for all
    of them (5 vectors over 10,000 tools: 1.2 ms against 2.1).
    """
    out = np.empty((len(vectors), len(matrix)), dtype=np.float32)
    if len(vectors) and len(matrix):
        rows = max(1, ONE_THREAD_PRODUCT // (len(vectors) * matrix.shape[1]))
        for start in range(0, len(matrix), rows):
            block = matrix[start : start + rows]
            np.matmul(vectors, block.T, out=out[:, start : start + rows])
    return out


def _check_query(query: str, top_k: int, mode: str) -> str:
    if mode not in SEARCH_MODES:
        raise SearchError(f"unknown search mode {mode!r}: use one of {', '.join(SEARCH_MODES)}")
    if not isinstance(query, str) or not query.strip():
        raise SearchError("the query is empty: describe the task in plain words, e.g. 'weather in Paris'")
    if len(query) > MAX_QUERY_CHARS:
        raise SearchError(f"the query has {len(query)} characters; the limit is {MAX_QUERY_CHARS}")
    if not 1 <= top_k <= MAX_TOP_K:
        raise SearchError(f"top_k must be between 1 and {MAX_TOP_K}, got {top_k}")
    return query.strip()


def _top(scores: npt.NDArray[np.float32], k: int) -> list[int]:
    k = min(k, len(scores))
    if k == 0:
        return []
    candidates = np.argpartition(-scores, k - 1)[:k]
    ordered = candidates[np.argsort(-scores[candidates], kind="stable")]
    return [int(i) for i in ordered if np.isfinite(scores[i])]
