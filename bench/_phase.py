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
        seconds, (_, report) = timed(lambda c=catalog, p=entry["path"]: service.engine(c, source=p))
        embedded = report.stats.embedded if report.stats else 0
        builds[entry["label"]] = {"tools": len(catalog), "seconds": seconds, "embedded": embedded}
    changed, n_changed = changed_catalog(catalog)
    seconds, (_, report) = timed(lambda: service.engine(changed, source=spec["catalogs"][-1]["path"]))
    stats = report.stats
    rebuild = {"seconds": seconds, "changed": n_changed, "embedded": stats.embedded if stats else 0}
    return {"model_open_s": model_s, "builds": builds, "rebuild": rebuild, "peak_rss_mb": peak_rss_mb()}


def ours_warm(spec: Spec) -> dict[str, Any]:
    """Load each prebuilt index from the store and time searches against it."""
    service = _service(spec)
    out: dict[str, Any] = {}
    for entry in spec["catalogs"]:
        catalog = load_catalog(entry["path"])
        load_s, (engine, report) = timed(lambda c=catalog, p=entry["path"]: service.engine(c, source=p))
        if report.source != "store":
            raise RuntimeError(f"expected a prebuilt index for {entry['label']}, got {report.source}")
        stats = latencies(lambda q, e=engine: e.search(q, top_k=5), spec["queries"], spec["warmup"])
        out[entry["label"]] = {"tools": len(catalog), "load_s": load_s, **stats}
    return {"sizes": out, "peak_rss_mb": peak_rss_mb()}


def _entries(path: str) -> list[dict[str, Any]]:
    tools: list[dict[str, Any]] = json.loads(Path(path).read_text(encoding="utf-8"))["tools"]
    return tools


def reference_build(spec: Spec) -> dict[str, Any]:
    """Encode every catalog (batch 32) and build BM25Okapi; save the embeddings for the other phases."""
    import numpy as np
    from _reference import BM25Okapi, bm25_tokens, encode, load_model, reference_text

    model_s, model = timed(lambda: load_model(int(spec["threads"])))
    builds = {}
    for entry in spec["catalogs"]:
        texts = [reference_text(e) for e in _entries(entry["path"])]
        encode_s, vectors = timed(lambda t=texts: encode(model, t))
        bm25_s, _ = timed(lambda t=texts: BM25Okapi([bm25_tokens(x) for x in t]))
        np.save(Path(spec["embeddings"]) / f"{entry['label']}.npy", vectors)
        builds[entry["label"]] = {
            "tools": len(texts),
            "seconds": round(encode_s + bm25_s, 3),
            "encode_s": encode_s,
            "bm25_s": bm25_s,
        }
    return {"model_open_s": model_s, "builds": builds, "peak_rss_mb": peak_rss_mb()}


def reference_warm(spec: Spec) -> dict[str, Any]:
    import numpy as np
    from _reference import ReferenceIndex, load_model

    model = load_model(int(spec["threads"]))
    out: dict[str, Any] = {}
    for entry in spec["catalogs"]:
        vectors = np.load(Path(spec["embeddings"]) / f"{entry['label']}.npy")
        load_s, index = timed(lambda e=entry, v=vectors: ReferenceIndex(model, _entries(e["path"]), v))
        stats = latencies(lambda q, i=index: i.search(q, 5), spec["queries"], spec["warmup"])
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
