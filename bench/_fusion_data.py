"""The request sets fusion is tuned and judged on, and each request's signals, cached on disk.

A request's signals (BM25 and cosine scores of every tool, for the request and each of its
clauses, plus the tools it names exactly) come from the real engine, so a fusion tried here
scores exactly what the engine would rank with it. Query vectors are cached by text (and model
fingerprint) and the signals by index key and query texts, so an experiment never re-embeds.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
import numpy.typing as npt
from _common import DATASETS, Dataset, log

from toolweaver.catalog import load_dataset_tools
from toolweaver.search.bm25 import BM25Index
from toolweaver.search.embed import Embedder
from toolweaver.search.evaluate import Query, load_queries
from toolweaver.search.fuse import Signals, clause_spans
from toolweaver.search.service import SearchService
from toolweaver.search.tokenize import tokenize
from toolweaver.settings import Settings
from toolweaver.storage import FileSystemBlobStore

HELDOUT_DIR = Path(__file__).resolve().parent / "heldout"
FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True)
class EvalSet:
    label: str
    group: str  # the dataset it belongs to, for leave-one-dataset-out
    tools: Path
    queries: Path
    split: str | None
    field: str
    metric: str
    kind: str  # "public", "dev" (held-out, may be tuned on) or "test" (held-out, never tuned on)


def eval_sets(datasets_dir: Path) -> list[EvalSet]:
    """The five public sets, then each held-out file's dev and test splits."""
    sets = [_public(datasets_dir, d) for d in DATASETS]
    heldout = (
        ("metatool", "metatool/tools.jsonl", "ndcg@10", "MetaTool single"),
        ("metatool_multi", "metatool/tools.jsonl", "ndcg@10", "MetaTool multi"),
        ("torchhub", "gorilla/torchhub_tools.jsonl", "hit@5", "Gorilla torchhub"),
        ("huggingface", "gorilla/huggingface_tools.jsonl", "hit@5", "Gorilla huggingface"),
    )
    for kind in ("dev", "test"):
        for name, tools, metric, group in heldout:
            label = f"held-out {name.replace('_', ' ')} ({kind})"
            path = HELDOUT_DIR / f"{name}.jsonl"
            sets.append(EvalSet(label, group, datasets_dir / tools, path, kind, "relevant", metric, kind))
    return sets


def _public(datasets_dir: Path, d: Dataset) -> EvalSet:
    return EvalSet(
        d.label,
        d.label,
        datasets_dir / d.tools,
        datasets_dir / d.queries,
        d.split,
        d.field,
        d.headline,
        "public",
    )


def heldout_styles(s: EvalSet) -> list[str]:
    """The style label of each request of a held-out set, in file order."""
    rows = [json.loads(line) for line in s.queries.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [str(r["style"]) for r in rows if r.get("split") == s.split]


class CachingEmbedder:
    """An Embedder that remembers every vector by text, on disk, for one model fingerprint."""

    def __init__(self, inner: Embedder, cache_dir: Path) -> None:
        self.inner = inner
        self._path = cache_dir / f"vectors-{inner.fingerprint[:16]}"
        self._rows: dict[str, int] = {}
        self._vectors: list[FloatArray] = []
        if self._path.with_suffix(".json").exists():
            self._rows = json.loads(self._path.with_suffix(".json").read_text(encoding="utf-8"))
            matrix = np.load(self._path.with_suffix(".npy"), allow_pickle=False)
            self._vectors = list(matrix)
        self._dirty = False

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed(self, texts: Sequence[str], *, progress: Callable[[int], None] | None = None) -> FloatArray:
        missing = list(dict.fromkeys(t for t in texts if t not in self._rows))
        if missing:
            for text, vector in zip(missing, self.inner.embed(missing, progress=progress), strict=True):
                self._rows[text] = len(self._vectors)
                self._vectors.append(vector)
            self._dirty = True
        return np.stack([self._vectors[self._rows[t]] for t in texts]).astype(np.float32)

    def save(self) -> None:
        if self._dirty:
            np.save(self._path.with_suffix(".npy"), np.stack(self._vectors), allow_pickle=False)
            self._path.with_suffix(".json").write_text(json.dumps(self._rows), encoding="utf-8")
            self._dirty = False


@dataclass(frozen=True)
class SetSignals:
    """Every request of one set: its signals, the tools it names exactly, and its relevant tools."""

    eval_set: EvalSet
    queries: list[Query]
    signals: list[Signals]
    coverage: list[FloatArray]  # per request: [1 + clauses], share of each row's idf mass BM25 knows
    exact: list[list[int]]
    names: tuple[str, ...]  # tool names in catalog order
    embeddings: FloatArray  # the index's tool vectors, catalog order


def load_signals(s: EvalSet, service: SearchService, embedder: CachingEmbedder, cache: Path) -> SetSignals:
    queries = load_queries(s.queries, split=s.split, field=s.field)
    catalog = load_dataset_tools(s.tools)
    engine, _ = service.engine(catalog, source=str(s.tools))
    digest = hashlib.sha256("\n".join(q.text for q in queries).encode()).hexdigest()[:16]
    path = cache / f"signals-{engine.index.key.replace('/', '_')}-{digest}.npz"
    if path.exists():
        data = np.load(path, allow_pickle=False)
        bm25, dense, offsets = data["bm25"], data["dense"], data["offsets"]
        exact_flat, exact_offsets = data["exact"], data["exact_offsets"]
    else:
        log(f"signals: {s.label}, {len(queries)} requests")
        rows = [engine.signals(q.text) for q in queries]
        found = [engine.exact_matches(q.text) for q in queries]
        embedder.save()
        bm25 = np.concatenate([r.bm25 for r in rows])
        dense = np.concatenate([r.dense for r in rows])
        offsets = np.cumsum([0] + [len(r.bm25) for r in rows])
        exact_flat = np.array([i for f in found for i in f], dtype=np.int64)
        exact_offsets = np.cumsum([0] + [len(f) for f in found])
        np.savez(path, bm25=bm25, dense=dense, offsets=offsets, exact=exact_flat, exact_offsets=exact_offsets)
    signals = [Signals(bm25=bm25[a:b], dense=dense[a:b]) for a, b in pairwise(offsets)]
    coverage = [_coverage(engine.index.bm25, q.text) for q in queries]
    exact = [[int(i) for i in exact_flat[a:b]] for a, b in pairwise(exact_offsets)]
    return SetSignals(s, queries, signals, coverage, exact, catalog.names, engine.index.embeddings)


def _coverage(index: BM25Index, text: str) -> FloatArray:
    rows = [tokenize(text)] + [tokenize(text[a:b]) for a, b in clause_spans(text)]
    return np.array([coverage(index, r) for r in rows], dtype=np.float32)


def coverage(index: BM25Index, tokens: Sequence[str]) -> float:
    """Share of the request's idf mass that the vocabulary knows (1: every term indexed, 0: none).

    A term the catalog never uses (a typo, a word no tool mentions) counts as rare as a term of
    one tool, since that is what its author may have meant it to be.
    """
    if not tokens:
        return 0.0
    unknown = math.log(1.0 + (index.n_docs - 0.5) / 1.5) if index.n_docs else 1.0
    weights = [
        (float(index.idf[t]), True) if (t := index.vocabulary.get(w)) is not None else (unknown, False)
        for w in tokens
    ]
    total = sum(x for x, _ in weights)
    return sum(x for x, known in weights if known) / total if total > 0 else 0.0


def open_service(cache: Path, model_dir: Path | None, threads: int) -> tuple[SearchService, CachingEmbedder]:
    settings = Settings(embedding_threads=threads, index_cache_dir=cache)
    if model_dir is not None:
        settings = dataclasses.replace(settings, embedding_model_dir=model_dir)
    plain = SearchService(settings, FileSystemBlobStore(cache / "store"))
    embedder = CachingEmbedder(plain.embedder, cache)
    return SearchService(settings, FileSystemBlobStore(cache / "store"), embedder=embedder), embedder
