"""Cold start, reference: import sentence-transformers + rank_bm25, load the saved embeddings,
build BM25Okapi from the catalog JSON, load the model, encode the request and search.

    python bench/_cold_reference.py CATALOG.json EMBEDDINGS.npy QUERY THREADS

Prints the same JSON line as ``_cold_ours.py``.
"""

import time

START = time.perf_counter()  # before any import, so the script's own time includes them

import json  # noqa: E402 - imports are part of what is measured
import resource  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from _reference import ReferenceIndex, load_model  # noqa: E402 - imports torch, rank_bm25


def main() -> None:
    catalog_path, embeddings_path, query, threads = sys.argv[1:5]
    entries = json.loads(Path(catalog_path).read_text(encoding="utf-8"))["tools"]
    index = ReferenceIndex(load_model(int(threads)), entries, np.load(embeddings_path))
    top = index.search(query, 5)
    done = time.monotonic()
    result = {
        "done_monotonic": done,
        "own_s": time.perf_counter() - START,
        "source": "npy",
        "top": top,
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }
    print(json.dumps(result))


main()
