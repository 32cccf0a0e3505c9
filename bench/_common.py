"""Shared pieces of the search benchmark: datasets, catalogs, query texts, child processes, statistics.

Imports toolweaver, so the caller must have the repository root on ``sys.path`` (the benchmark
script adds it; child processes get it through ``PYTHONPATH``).
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from toolweaver.catalog import Catalog, Tool, load_dataset_tools
from toolweaver.catalog.model import MAX_DESCRIPTION_LENGTH
from toolweaver.search.documents import dense_text
from toolweaver.search.evaluate import Query, load_queries

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DEFAULT_DATASETS = REPO.parent / "shared" / "datasets"
_START = time.monotonic()


def log(message: str) -> None:
    """A progress line on stderr, stamped with the seconds since the benchmark started."""
    print(f"[{time.monotonic() - _START:7.1f}s] {message}", file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Dataset:
    label: str
    tools: str  # relative to the datasets folder
    queries: str
    split: str | None
    field: str  # which relevance labels: "relevant" or "relevant_same_api_call"
    headline: str  # the metric the dataset is judged by


DATASETS: tuple[Dataset, ...] = (
    Dataset(
        "MetaTool single", "metatool/tools.jsonl", "metatool/queries.jsonl", "single", "relevant", "ndcg@10"
    ),
    Dataset(
        "MetaTool multi", "metatool/tools.jsonl", "metatool/queries.jsonl", "multi", "relevant", "ndcg@10"
    ),
    # Gorilla repeats one API call across many records: judge it by hit@k on the same-call labels.
    Dataset(
        "Gorilla torchhub",
        "gorilla/torchhub_tools.jsonl",
        "gorilla/torchhub_queries.jsonl",
        None,
        "relevant_same_api_call",
        "hit@5",
    ),
    Dataset(
        "Gorilla tensorflowhub",
        "gorilla/tensorflowhub_tools.jsonl",
        "gorilla/tensorflowhub_queries.jsonl",
        None,
        "relevant_same_api_call",
        "hit@5",
    ),
    Dataset(
        "Gorilla huggingface",
        "gorilla/huggingface_tools.jsonl",
        "gorilla/huggingface_queries.jsonl",
        None,
        "relevant_same_api_call",
        "hit@5",
    ),
)
# "The union of the Gorilla + MetaTool dataset tools", in this order.
UNION_TOOL_FILES = (
    "gorilla/torchhub_tools.jsonl",
    "gorilla/tensorflowhub_tools.jsonl",
    "gorilla/huggingface_tools.jsonl",
    "metatool/tools.jsonl",
)


def dataset_queries(datasets_dir: Path, dataset: Dataset, limit: int | None) -> list[Query]:
    return load_queries(datasets_dir / dataset.queries, split=dataset.split, field=dataset.field, limit=limit)


def union_tools(datasets_dir: Path) -> list[Tool]:
    """Every dataset tool once; dataset ids are unique across the files, so names do not clash."""
    return [tool for name in UNION_TOOL_FILES for tool in load_dataset_tools(datasets_dir / name)]


# Small word lists for the synthetic copies: a copy of a tool reads like the same API offered
# elsewhere, which is what large real catalogs look like (many near-duplicates).
_REGIONS = (
    "EU",
    "US East",
    "US West",
    "Asia Pacific",
    "Canada",
    "Brazil",
    "India",
    "Japan",
    "Australia",
    "UK",
)
_VENDORS = ("Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark", "Wayne", "Wonka", "Tyrell", "Soylent")


def _variant_phrase(i: int) -> str:
    # (region, vendor, major release) is a different triple for every i, so every text is distinct.
    region, vendor = _REGIONS[i % 10], _VENDORS[(i // 10) % 10]
    return f" Hosted in {region} by {vendor}, release {i // 100 + 1}.{i % 7}."


def synthetic_catalog(base: Sequence[Tool], size: int) -> Catalog:
    """``size`` tools cycling through ``base``; copy n is named ``<name>_v<n>`` and gets a varying phrase."""
    tools = []
    for i in range(size):
        tool = base[i % len(base)]
        phrase = _variant_phrase(i)
        description = tool.description[: MAX_DESCRIPTION_LENGTH - len(phrase)] + phrase
        tools.append(
            dataclasses.replace(tool, name=f"{tool.name}_v{i // len(base) + 1}", description=description)
        )
    catalog = Catalog(tools)
    distinct = len({dense_text(t) for t in catalog})
    if distinct != size:
        raise RuntimeError(f"synthetic catalog has {distinct} distinct embedding texts for {size} tools")
    return catalog


def changed_catalog(catalog: Catalog, every: int = 100) -> tuple[Catalog, int]:
    """The catalog with the description of every ``every``-th tool edited (1% by default)."""
    changed = [
        dataclasses.replace(tool, description=tool.description + " Now supports batch requests.")
        for i, tool in enumerate(catalog)
        if i % every == every // 2
    ]
    return catalog.with_tools(changed), len(changed)


def latency_queries(datasets_dir: Path, count: int) -> list[str]:
    """``count`` request texts alternating MetaTool and Gorilla, cycling when the lists run out."""
    metatool = [q.text for q in dataset_queries(datasets_dir, DATASETS[0], count)]
    gorilla = [q.text for d in DATASETS[2:] for q in dataset_queries(datasets_dir, d, None)]
    mixed = [text for pair in zip(metatool, gorilla, strict=False) for text in pair]
    return [mixed[i % len(mixed)] for i in range(count)]


def percentiles_ms(seconds: Sequence[float]) -> dict[str, float]:
    ms = np.asarray(seconds, dtype=np.float64) * 1000.0
    return {f"p{p}": round(float(np.percentile(ms, p)), 2) for p in (50, 95, 99)}


def child_env(threads: int, **extra: str) -> dict[str, str]:
    """The children's environment: the repo importable, no network for Hugging Face, fixed threads."""
    env = dict(os.environ)
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
        HF_HUB_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        EMBEDDING_THREADS=str(threads),
        **extra,
    )
    return env


def run_child(args: Sequence[str], env: dict[str, str], timeout: float = 3600.0) -> dict[str, Any]:
    """Run ``python <args>``; the child prints one JSON object as its last stdout line."""
    proc = subprocess.run(
        [sys.executable, *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-5:]
        raise RuntimeError(f"child {' '.join(args[:2])} failed ({proc.returncode}): " + " | ".join(tail))
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def peak_rss_mb() -> float:
    """This process's peak resident set (ru_maxrss is KiB on Linux), in MB of 10^6 bytes."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6, 1)
