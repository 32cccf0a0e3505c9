"""BM25's own constants (k1, b, the name repeat) tried under the fusion: signals with BM25 recomputed."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from _fusion_eval import Prepared, baselines, metric, scores_of
from _fusion_methods import METHODS

from toolweaver.catalog import load_dataset_tools
from toolweaver.search import documents
from toolweaver.search.bm25 import BM25Index
from toolweaver.search.fuse import clause_spans
from toolweaver.search.tokenize import tokenize

GRID = [(k1, b, r) for k1 in (0.9, 1.2, 1.6) for b in (0.3, 0.5, 0.75) for r in (1, 2, 3)]


def with_bm25(p: Prepared, k1: float, b: float, name_repeat: int) -> Prepared:
    """``p`` with its BM25 rows recomputed by an index built with these constants."""
    s = p.eval_set
    catalog = load_dataset_tools(s.tools)
    original = documents.NAME_REPEAT
    documents.NAME_REPEAT = name_repeat
    try:
        index = BM25Index.build([documents.bm25_tokens(t) for t in catalog], k1=k1, b=b)
    finally:
        documents.NAME_REPEAT = original
    batches = []
    for positions, batch in p.batches:
        rows = []
        for q in positions:
            text = p.texts[int(q)]
            parts = [tokenize(text)] + [tokenize(text[a:c]) for a, c in clause_spans(text)]
            rows.append(np.stack([index.scores(t) for t in parts]))
        batches.append((positions, dataclasses.replace(batch, bm25=np.stack(rows))))
    return dataclasses.replace(p, batches=batches)


def sweep(sets: Sequence[Prepared], method: str, params: dict[str, float]) -> list[dict[str, object]]:
    """For each (k1, b, name repeat): bm25-only and the fused figure of ``method`` on every set."""
    out = []
    for k1, b, repeat in GRID:
        row: dict[str, object] = {"k1": k1, "b": b, "name_repeat": repeat, "scores": {}}
        for p in sets:
            q = with_bm25(p, k1, b, repeat)
            row["scores"][p.eval_set.label] = {  # type: ignore[index]
                "bm25": round(baselines(q)["bm25"], 4),
                "hybrid": round(metric(q, scores_of(q, METHODS[method], params)), 4),
            }
        out.append(row)
    return out
