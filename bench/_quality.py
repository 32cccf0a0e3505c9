"""Retrieval quality on every dataset: ours (three modes) and the reference (three modes), side by side."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from _common import DATASETS, Dataset, dataset_queries, log

from toolweaver.catalog import Catalog, load_dataset_tools
from toolweaver.search.engine import SearchEngine
from toolweaver.search.evaluate import Query, evaluate, query_metrics
from toolweaver.search.service import SearchService
from toolweaver.settings import Settings
from toolweaver.storage import FileSystemBlobStore

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

METRICS = ("ndcg@10", "recall@5", "hit@5")
MODES = ("hybrid", "bm25", "dense")
DEPTH = 10
# The reference encodes with torch; on 2 cores all 20,614 MetaTool single queries take many minutes.
REFERENCE_SAMPLE = 2_000


@dataclass
class QualityRow:
    dataset: Dataset
    queries: int  # ours answers every query
    reference_queries: int  # the reference answers a fixed sample when the set is large
    # "ours hybrid", "reference dense", ...: metric name -> mean over the queries
    scores: dict[str, dict[str, float]] = field(default_factory=dict)

    def headline(self, system: str) -> float:
        return self.scores[system][self.dataset.headline]


def run_quality(datasets_dir: Path, cache_dir: Path, *, threads: int, limit: int | None) -> list[QualityRow]:
    from _reference import load_model

    service = SearchService(
        Settings(embedding_threads=threads, index_cache_dir=cache_dir), FileSystemBlobStore(cache_dir)
    )
    model = load_model(threads)
    rows = []
    for dataset in DATASETS:
        queries = dataset_queries(datasets_dir, dataset, limit)
        catalog = load_dataset_tools(datasets_dir / dataset.tools)
        sample = reference_sample(queries)
        row = QualityRow(dataset, len(queries), len(sample))
        log(f"quality: {dataset.label}, ours: indexing {len(catalog)} tools")
        engine, _ = service.engine(catalog, source=str(datasets_dir / dataset.tools))
        row.scores.update(_ours(engine, queries, dataset.label))
        row.scores.update(_reference(model, catalog, sample, dataset.label))
        rows.append(row)
    return rows


def reference_sample(queries: Sequence[Query]) -> Sequence[Query]:
    """Every query, or REFERENCE_SAMPLE of them drawn with a fixed seed (in file order) when there are more.

    A seeded draw, not the first N: the query files are grouped by tool, so a prefix covers few tools.
    """
    if len(queries) <= REFERENCE_SAMPLE:
        return queries
    picked = sorted(random.Random(0).sample(range(len(queries)), REFERENCE_SAMPLE))
    return [queries[i] for i in picked]


def _ours(engine: SearchEngine, queries: Sequence[Query], label: str) -> dict[str, dict[str, float]]:
    out = {}
    for mode in MODES:
        log(f"quality: {label}, ours {mode}, {len(queries)} queries")
        result = evaluate(engine, queries, mode=mode, k=DEPTH)
        out[f"ours {mode}"] = {m: float(result[m]) for m in METRICS}
    return out


def _reference(
    model: SentenceTransformer, catalog: Catalog, queries: Sequence[Query], label: str
) -> dict[str, dict[str, float]]:
    from _reference import ReferenceIndex, encode

    log(f"quality: {label}, reference: encoding {len(catalog)} tools and {len(queries)} queries")
    index = ReferenceIndex(model, [t.to_dict() for t in catalog], None)
    # Batch-encoding the queries gives the same vectors as one call per query, in a fraction of the time.
    vectors = encode(index.model, [q.text for q in queries])
    out = {}
    for mode in MODES:
        sums = dict.fromkeys(METRICS, 0.0)
        for query, vector in zip(queries, vectors, strict=True):
            metrics = query_metrics(index.rank(query.text, vector, mode, DEPTH), query.relevant, DEPTH)
            for name in METRICS:
                sums[name] += metrics[name]
        out[f"reference {mode}"] = {m: round(total / len(queries), 4) for m, total in sums.items()}
    return out
