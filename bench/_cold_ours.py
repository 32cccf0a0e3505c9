"""Cold start, ours: a fresh process imports, loads a prebuilt index from disk, opens the model, searches.

    python bench/_cold_ours.py CATALOG.json QUERY      (INDEX_CACHE_DIR, EMBEDDING_THREADS from the env)

This is what a CLI call or a new serverless instance pays. Prints one JSON line: ``done_monotonic``
(CLOCK_MONOTONIC is system-wide on Linux, so the parent can subtract its spawn time), the script's
own seconds, the index source (must be "store") and peak RSS.
"""

import time

START = time.perf_counter()  # before any import, so the script's own time includes them

import json  # noqa: E402 - imports are part of what is measured
import resource  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

from toolweaver.catalog import load_catalog  # noqa: E402
from toolweaver.search.service import SearchService  # noqa: E402
from toolweaver.settings import Settings  # noqa: E402
from toolweaver.storage import FileSystemBlobStore  # noqa: E402


def main() -> None:
    catalog_path, query = Path(sys.argv[1]), sys.argv[2]
    settings = Settings.from_env()
    catalog = load_catalog(catalog_path)
    service = SearchService(settings, FileSystemBlobStore(settings.index_cache_dir))
    engine, report = service.engine(catalog, source=str(catalog_path))
    hits = engine.search(query, top_k=5)
    done = time.monotonic()
    result = {
        "done_monotonic": done,
        "own_s": time.perf_counter() - START,
        "source": report.source,
        "top": [h.tool.name for h in hits],
        "peak_rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }
    print(json.dumps(result))


main()
