"""A benchmark phase in its own process, so its peak RSS and its threads belong to one side only.

    python bench/_phase.py {ours-build|ours-warm|reference-build|reference-warm} SPEC.json

SPEC holds ``threads``, ``catalogs`` ([{label, path}], small to large), ``cache`` (ours: the index
store), ``embeddings`` (reference: where the .npy files go), ``queries`` and ``warmup``. The
result is one JSON object on the last stdout line. torch is imported only by the reference phases.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from _common import changed_catalog, peak_rss_mb, percentiles_ms

from toolweaver.catalog import load_catalog
from toolweaver.search.service import SearchService
from toolweaver.settings import Settings
from toolweaver.storage import FileSystemBlobStore

T = TypeVar("T")
Spec = dict[str, Any]


def timed(work: Callable[[], T]) -> tuple[float, T]:
    start = time.perf_counter()
    result = work()
    return round(time.perf_counter() - start, 3), result


def latencies(search: Callable[[str], object], queries: list[str], warmup: int) -> dict[str, float]:
    """Per-request latency after ``warmup`` untimed requests (first-call allocations, caches)."""
    for query in queries[:warmup]:
        search(query)
    seconds = []
    for query in queries:
        start = time.perf_counter()
        search(query)
        seconds.append(time.perf_counter() - start)
    return {"queries": len(queries), **percentiles_ms(seconds)}


def _service(spec: Spec) -> SearchService:
    settings = Settings(embedding_threads=int(spec["threads"]), index_cache_dir=Path(spec["cache"]))
    return SearchService(settings, FileSystemBlobStore(settings.index_cache_dir))


def ours_build(spec: Spec) -> dict[str, Any]:
    """Index every catalog from scratch, then the largest again after editing 1% of it."""
    service = _service(spec)
    model_s, _ = timed(lambda: service.embedder)  # opened once per process; not part of a build
    builds = {}
    for entry in spec["catalogs"]:
        catalog = load_catalog(entry["path"])
        seconds, (_, report) = timed(partial(service.engine, catalog, source=entry["path"]))
        embedded = report.stats.embedded if report.stats else 0
        builds[entry["label"]] = {"tools": len(catalog), "seconds": seconds, "embedded": embedded}
    # Same source as the last build, so the service finds that index and reuses its vectors.
    changed, n_changed = changed_catalog(catalog)
    seconds, (_, report) = timed(partial(service.engine, changed, source=spec["catalogs"][-1]["path"]))
    embedded = report.stats.embedded if report.stats else 0
    rebuild = {"seconds": seconds, "changed": n_changed, "embedded": embedded}
    return {"model_open_s": model_s, "builds": builds, "rebuild": rebuild, "peak_rss_mb": peak_rss_mb()}


def ours_warm(spec: Spec) -> dict[str, Any]:
    """Load each prebuilt index from the store and time searches against it."""
    service = _service(spec)
    out: dict[str, Any] = {}
    for entry in spec["catalogs"]:
        catalog = load_catalog(entry["path"])
        load_s, (engine, report) = timed(partial(service.engine, catalog, source=entry["path"]))
        if report.source != "store":
            raise RuntimeError(f"expected a prebuilt index for {entry['label']}, got {report.source}")
        stats = latencies(partial(engine.search, top_k=5), spec["queries"], spec["warmup"])
        out[entry["label"]] = {"tools": len(catalog), "load_s": load_s, **stats}
    return {"sizes": out, "peak_rss_mb": peak_rss_mb()}


def _entries(path: str) -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = json.loads(Path(path).read_text(encoding="utf-8"))["tools"]
    return tools


def _open_reference(threads: int) -> Any:
    # torch and sentence-transformers load here, as onnxruntime loads inside our model open.
    from _reference import load_model

    return load_model(threads)


def _reference_build_one(model: Any, path: str) -> tuple[dict[str, Any], Any]:
    from _reference import bm25_tokens, encode, reference_text
    from rank_bm25 import BM25Okapi

    texts = [reference_text(e) for e in _entries(path)]
    encode_s, vectors = timed(partial(encode, model, texts))
    bm25_s, _ = timed(partial(BM25Okapi, [bm25_tokens(t) for t in texts]))
    stats = {
        "tools": len(texts),
        "seconds": round(encode_s + bm25_s, 3),
        "encode_s": encode_s,
        "bm25_s": bm25_s,
    }
    return stats, vectors


def reference_build(spec: Spec) -> dict[str, Any]:
    """Encode every catalog (batch 32) and build BM25Okapi; save the embeddings for the other phases."""
    import numpy as np

    model_s, model = timed(partial(_open_reference, int(spec["threads"])))
    builds = {}
    for entry in spec["catalogs"]:
        builds[entry["label"]], vectors = _reference_build_one(model, entry["path"])
        np.save(Path(spec["embeddings"]) / f"{entry['label']}.npy", vectors)
    return {"model_open_s": model_s, "builds": builds, "peak_rss_mb": peak_rss_mb()}


def reference_warm(spec: Spec) -> dict[str, Any]:
    """Rebuild BM25Okapi and load the saved embeddings per catalog, then time searches."""
    import numpy as np
    from _reference import ReferenceIndex, load_model

    model = load_model(int(spec["threads"]))
    out: dict[str, Any] = {}
    for entry in spec["catalogs"]:
        vectors = np.load(Path(spec["embeddings"]) / f"{entry['label']}.npy")
        load_s, index = timed(partial(ReferenceIndex, model, _entries(entry["path"]), vectors))
        stats = latencies(partial(index.search, k=5), spec["queries"], spec["warmup"])
        out[entry["label"]] = {"tools": len(index.names), "load_s": load_s, **stats}
    return {"sizes": out, "peak_rss_mb": peak_rss_mb()}


PHASES: dict[str, Callable[[Spec], dict[str, Any]]] = {
    "ours-build": ours_build,
    "ours-warm": ours_warm,
    "reference-build": reference_build,
    "reference-warm": reference_warm,
}


def main(argv: list[str]) -> int:
    phase, spec_path = argv
    spec: Spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    print(json.dumps(PHASES[phase](spec)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
