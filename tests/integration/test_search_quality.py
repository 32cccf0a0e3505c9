"""Search quality on real data with the real model: floors per set, and hybrid against its parts.

Every public set and the held-out test split of ``bench/heldout`` (requests written for this
project, never tuned on) has a floor just under its measured figure (bench/RESULTS.md, "Search
fusion"), so a regression of 0.01 on any set fails here. MetaTool single is judged on a fixed
seeded sample of its 20,614 requests so the suite stays quick; its floor is that sample's figure.
Each text is embedded once and reused by the three modes (the vectors are the model's own).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from toolweaver.catalog import load_dataset_tools
from toolweaver.search.embed import Embedder, OnnxEmbedder
from toolweaver.search.engine import SearchEngine
from toolweaver.search.evaluate import Query, evaluate, load_queries
from toolweaver.search.service import SearchService
from toolweaver.settings import Settings
from toolweaver.storage import FileSystemBlobStore

pytestmark = pytest.mark.model

HELDOUT = Path(__file__).resolve().parents[2] / "bench" / "heldout"
SAMPLE = 1_000  # MetaTool single requests, drawn with a fixed seed
MODES = ("hybrid", "bm25", "dense")

# (tools, queries, split, relevance field, metric, floor of the hybrid): each floor is the figure measured
# with the shipped fusion (bench/RESULTS.md, "Search fusion") less 0.005.
SETS = [
    pytest.param("metatool/tools.jsonl", "metatool/queries.jsonl", "single", "relevant", "ndcg@10", 0.702,
                 id="metatool-single-sample"),
    pytest.param("metatool/tools.jsonl", "metatool/queries.jsonl", "multi", "relevant", "ndcg@10", 0.756,
                 id="metatool-multi"),
    pytest.param("gorilla/torchhub_tools.jsonl", "gorilla/torchhub_queries.jsonl", None,
                 "relevant_same_api_call", "hit@5", 0.371, id="torchhub"),
    pytest.param("gorilla/tensorflowhub_tools.jsonl", "gorilla/tensorflowhub_queries.jsonl", None,
                 "relevant_same_api_call", "hit@5", 0.636, id="tensorflowhub"),
    pytest.param("gorilla/huggingface_tools.jsonl", "gorilla/huggingface_queries.jsonl", None,
                 "relevant_same_api_call", "hit@5", 0.387, id="huggingface"),
    pytest.param("metatool/tools.jsonl", "heldout:metatool.jsonl", "test", "relevant", "ndcg@10", 0.804,
                 id="heldout-metatool-test"),
    pytest.param("metatool/tools.jsonl", "heldout:metatool_multi.jsonl", "test", "relevant", "ndcg@10", 0.844,
                 id="heldout-metatool-multi-test"),
    pytest.param("gorilla/torchhub_tools.jsonl", "heldout:torchhub.jsonl", "test", "relevant", "hit@5", 0.936,
                 id="heldout-torchhub-test"),
    pytest.param("gorilla/huggingface_tools.jsonl", "heldout:huggingface.jsonl", "test", "relevant", "hit@5",
                 0.809, id="heldout-huggingface-test"),
]  # fmt: skip


class MemoEmbedder:
    """The real embedder, with each text's vector kept: the three modes embed each request once."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self._memo: dict[str, npt.NDArray[np.float32]] = {}

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

    @property
    def dimension(self) -> int:
        return self.inner.dimension

    def embed(
        self, texts: Sequence[str], *, progress: Callable[[int], None] | None = None
    ) -> npt.NDArray[np.float32]:
        missing = [t for t in dict.fromkeys(texts) if t not in self._memo]
        if missing:
            self._memo.update(zip(missing, self.inner.embed(missing, progress=progress), strict=True))
        return np.stack([self._memo[t] for t in texts])


@pytest.fixture(scope="module")
def embedder(model_dir: Path) -> MemoEmbedder:
    return MemoEmbedder(OnnxEmbedder(model_dir, threads=2))


@pytest.fixture(scope="module")
def engines(
    embedder: MemoEmbedder, model_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Callable[[Path], SearchEngine]:
    cache = tmp_path_factory.mktemp("quality-index")
    service = SearchService(
        Settings(embedding_model_dir=model_dir, index_cache_dir=cache),
        FileSystemBlobStore(cache),
        embedder=embedder,
    )
    built: dict[Path, SearchEngine] = {}

    def engine(tools: Path) -> SearchEngine:
        if tools not in built:
            built[tools] = service.engine(load_dataset_tools(tools), source=str(tools))[0]
        return built[tools]

    return engine


def _queries(datasets: Path, source: str, split: str | None, field: str) -> list[Query]:
    if source.startswith("heldout:"):
        return load_queries(HELDOUT / source.removeprefix("heldout:"), split=split, field=field)
    queries = load_queries(datasets / source, split=split, field=field)
    if len(queries) > SAMPLE:
        picked = sorted(
            random.Random(0).sample(  # noqa: S311 - a fixed sample, not a secret
                range(len(queries)), SAMPLE
            )
        )
        queries = [queries[i] for i in picked]
    return queries


@pytest.mark.parametrize(("tools", "source", "split", "field", "metric", "floor"), SETS)
def test_hybrid_holds_its_floor_and_beats_its_parts(
    tools: str,
    source: str,
    split: str | None,
    field: str,
    metric: str,
    floor: float,
    datasets: Path,
    engines: Callable[[Path], SearchEngine],
) -> None:
    engine = engines(datasets / tools)
    queries = _queries(datasets, source, split, field)
    scores = {mode: evaluate(engine, queries, mode=mode)[metric] for mode in MODES}
    assert scores["hybrid"] >= floor, scores
    assert scores["hybrid"] >= max(scores["bm25"], scores["dense"]) - 0.005, scores
    assert scores["hybrid"] > (scores["bm25"] + scores["dense"]) / 2, scores
