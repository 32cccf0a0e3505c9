"""Hybrid search against its parts on real benchmark data (a sample, so the suite stays quick).

The full figures for every dataset are in bench/RESULTS.md; here the ranking behaviour itself is
checked: fusion must not lose to the better single signal, and must win on average.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from toolweaver.catalog import load_dataset_tools
from toolweaver.search.evaluate import evaluate, load_queries
from toolweaver.search.service import SearchService
from toolweaver.settings import Settings
from toolweaver.storage import FileSystemBlobStore

pytestmark = pytest.mark.model

SETS = [
    pytest.param(
        "metatool/tools.jsonl", "metatool/queries.jsonl", "multi", "relevant", "ndcg@10", id="multi"
    ),
    pytest.param(
        "gorilla/torchhub_tools.jsonl",
        "gorilla/torchhub_queries.jsonl",
        None,
        "relevant_same_api_call",
        "hit@5",
        id="torchhub",
    ),
]


@pytest.mark.parametrize(("tools", "queries", "split", "field", "metric"), SETS)
def test_hybrid_is_at_least_as_good_as_each_part(
    tools: str,
    queries: str,
    split: str | None,
    field: str,
    metric: str,
    datasets: Path,
    model_dir: Path,
    tmp_path: Path,
) -> None:
    settings = Settings(embedding_model_dir=model_dir, index_cache_dir=tmp_path)
    engine, _ = SearchService(settings, FileSystemBlobStore(tmp_path)).engine(
        load_dataset_tools(datasets / tools)
    )
    sample = load_queries(datasets / queries, split=split, field=field)
    scores = {mode: evaluate(engine, sample, mode=mode)[metric] for mode in ("hybrid", "bm25", "dense")}
    assert scores["hybrid"] >= max(scores["bm25"], scores["dense"]) - 0.005, scores
    assert scores["hybrid"] > (scores["bm25"] + scores["dense"]) / 2, scores
