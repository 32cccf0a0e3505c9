"""Retrieval quality on a benchmark: nDCG, recall, MRR and hit rates, plus per-query latency."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from toolweaver.catalog.model import NAME_PATTERN, sanitize_name
from toolweaver.errors import CatalogError, SearchError
from toolweaver.search.engine import SearchEngine

RELEVANT_FIELDS = ("relevant", "relevant_same_api_call")
CUTOFFS = (1, 5, 10)


@dataclass(frozen=True)
class Query:
    text: str
    relevant: frozenset[str]


def load_queries(path: Path, *, split: str | None, field: str, limit: int | None = None) -> list[Query]:
    """Benchmark queries (JSON Lines: text, relevant ids, split); ids mapped like the tool loader."""
    if field not in RELEVANT_FIELDS:
        raise SearchError(f"unknown relevance field {field!r}: use one of {', '.join(RELEVANT_FIELDS)}")
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise CatalogError(f"cannot read queries file {path}: {exc.strerror}") from exc
    queries: list[Query] = []
    splits: set[str] = set()
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            splits.add(str(row.get("split")))
            if split is not None and row.get("split") != split:
                continue
            ids = row[field]
            queries.append(Query(row["text"], frozenset(_tool_name(str(i)) for i in ids)))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise CatalogError(
                f"{path}: line {lineno}: not a query record with 'text' and {field!r}"
            ) from exc
        if limit is not None and len(queries) >= limit:
            break
    if not queries:
        raise SearchError(f"no queries in {path} for split {split!r}: splits there are {sorted(splits)}")
    return queries


def _tool_name(tool_id: str) -> str:
    return tool_id if NAME_PATTERN.match(tool_id) else sanitize_name(tool_id)


def evaluate(
    engine: SearchEngine,
    queries: Sequence[Query],
    *,
    mode: str = "hybrid",
    k: int = 10,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Run every query through ``engine`` and average the ranking metrics."""
    depth = max(k, *CUTOFFS)
    sums: dict[str, float] = {}
    latencies: list[float] = []
    engine.search(queries[0].text, top_k=depth, mode=mode)  # warm-up: first-call allocations
    for query in queries:
        start = time.perf_counter()
        hits = engine.search(query.text, top_k=depth, mode=mode)
        latencies.append((time.perf_counter() - start) * 1000.0)
        ranked = [h.tool.name for h in hits]
        for name, value in query_metrics(ranked, query.relevant, k).items():
            sums[name] = sums.get(name, 0.0) + value
        if progress is not None:
            progress(1)
    n = len(queries)
    result: dict[str, Any] = {"mode": mode, "queries": n}
    result.update({name: round(total / n, 4) for name, total in sums.items()})
    result["latency_ms"] = {
        "p50": round(float(np.percentile(latencies, 50)), 2),
        "p95": round(float(np.percentile(latencies, 95)), 2),
    }
    return result


def query_metrics(ranked: Sequence[str], relevant: frozenset[str], k: int) -> dict[str, float]:
    """Binary-relevance metrics of one ranked list."""
    gains = [1.0 if name in relevant else 0.0 for name in ranked]
    out: dict[str, float] = {}
    for cut in sorted({5, 10, k}):
        out[f"ndcg@{cut}"] = _ndcg(gains[:cut], len(relevant), cut)
        out[f"recall@{cut}"] = sum(gains[:cut]) / len(relevant) if relevant else 0.0
    first = next((rank for rank, g in enumerate(gains[:10], start=1) if g), None)
    out["mrr@10"] = 1.0 / first if first else 0.0
    out["hit@1"] = float(any(gains[:1]))
    out["hit@5"] = float(any(gains[:5]))
    return out


def _ndcg(gains: Sequence[float], n_relevant: int, cut: int) -> float:
    dcg = sum(g / math.log2(rank + 1) for rank, g in enumerate(gains, start=1))
    ideal = sum(1.0 / math.log2(rank + 1) for rank in range(1, min(n_relevant, cut) + 1))
    return dcg / ideal if ideal else 0.0
