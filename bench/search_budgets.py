"""The search budgets, ours only, for two versions of the code side by side.

Writes the "Search budgets" section of bench/RESULTS.md.

A change to search is measured against the commit before it under the same load: each phase
(10k and 1k builds with the 1% rebuild, cold starts, warm searches) runs for the old code, then for
the new, in their own processes, so neither steals the other's cores. The old code is a
``git archive`` of BASE unpacked in a temporary folder; the benchmark scripts are this tree's.

    .venv/bin/python bench/search_budgets.py BASE [--runs 5] [--out bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BENCH_DIR, DEFAULT_DATASETS, REPO, child_env, log, run_child
from _provenance import commit_label
from _sections import replace_section
from search_bench import COLD_QUERY, SMALL_SIZE, Plan, label, prepare, write_spec

LARGE = 10_000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("base", help="the commit to compare with")
    parser.add_argument("--runs", type=int, default=5, help="cold starts per version")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="warm and cold rounds, alternating versions")
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "RESULTS.md")
    parser.add_argument("--build-rounds", type=int, default=2, help="10k builds per version, alternating")
    parser.add_argument("--text-cost", metavar="CATALOG", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.text_cost:
        print(json.dumps(text_cost(args.text_cost)))
        return
    with tempfile.TemporaryDirectory(prefix="toolweaver-budgets-") as tmp:
        root = Path(tmp)
        base = root / "base"
        base.mkdir()
        archive = subprocess.run(
            ["git", "archive", args.base, "toolweaver"], cwd=REPO, capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", str(base)], input=archive.stdout, check=True)
        (base / "models").symlink_to((REPO / "models").resolve())  # the same model for both versions
        versions = {f"before ({args.base[:7]})": base, f"after ({commit_label()})": REPO}
        results: dict[str, dict[str, Any]] = {name: {"builds": []} for name in versions}
        for name in versions:
            (root / name).mkdir()
            write_spec(_plan(args), prepare(_plan(args), root / name))
        for name, code in versions.items():
            catalog = root / name / f"catalog-{label(LARGE)}.json"
            results[name]["text"] = run_child(
                [__file__, "-", "--text-cost", str(catalog)], _env(code, args.threads)
            )
        for _ in range(args.build_rounds):
            for name, code in versions.items():
                log(f"build: {code}")
                shutil.rmtree(root / name / "ours-cache", ignore_errors=True)  # every round builds afresh
                results[name]["builds"].append(phase("ours-build", root / name, code, args))
        # Other work shares the cores: alternate the versions and keep each one's best round,
        # the figure least inflated by what ran beside it.
        for _ in range(args.rounds):
            for name, code in versions.items():
                results[name].setdefault("colds", []).append(cold(root / name, code, args))
                results[name].setdefault("warms", []).append(phase("ours-warm", root / name, code, args))
        for r in results.values():
            r["build"] = min(r["builds"], key=lambda b: b["builds"][label(LARGE)]["seconds"])
            r["cold"] = min(r["colds"], key=lambda c: c["own_s"])
            r["warm"] = {"sizes": {size: _best(r["warms"], size) for size in r["warms"][0]["sizes"]}}
    load = os.getloadavg()[0]
    replace_section(args.out, "search-budgets", render(results, args, load))
    log(f"wrote the search-budgets section of {args.out}")


def _best(warms: list[dict[str, Any]], size: str) -> dict[str, Any]:
    return {k: min(w["sizes"][size][k] for w in warms) for k in ("p50", "p95")}


def _env(code: Path, threads: int, **extra: str) -> dict[str, str]:
    env = child_env(threads, **extra)
    env["PYTHONPATH"] = str(code)  # this version's toolweaver; the bench scripts come from their own folder
    return env


def _plan(args: argparse.Namespace) -> Plan:
    return Plan(
        quick=False,
        out=args.out,
        datasets=args.datasets,
        threads=args.threads,
        runs=args.runs,
        large=LARGE,
        latency_queries=500,
        quality_limit=None,
    )


def text_cost(catalog_path: str) -> dict[str, Any]:
    """In the version's own process: tokens its text builder gives the model for a catalog, and what
    an index build costs besides the model (text builders, BM25, recipe), best of three."""
    import time

    import numpy as np
    from tokenizers import Tokenizer

    from toolweaver.catalog import load_catalog
    from toolweaver.search import documents
    from toolweaver.search.embed import TOKENIZER_FILE
    from toolweaver.search.index import build_index
    from toolweaver.settings import Settings

    catalog = load_catalog(catalog_path)
    tokenizer = Tokenizer.from_file(str(Settings().embedding_model_dir / TOKENIZER_FILE))
    tokenizer.enable_truncation(max_length=256)
    tokens = sum(len(e.ids) for e in tokenizer.encode_batch([documents.dense_text(t) for t in catalog]))

    class NoModel:
        fingerprint, dimension = "no-model", 384

        def embed(self, texts: Any, *, progress: Any = None) -> Any:
            return np.zeros((len(texts), 384), dtype=np.float32)

    seconds = []
    for _ in range(3):
        start = time.perf_counter()
        build_index(catalog, NoModel())
        seconds.append(time.perf_counter() - start)
    return {"tokens": tokens, "build_without_model_s": round(min(seconds), 3)}


def phase(name: str, root: Path, code: Path, args: argparse.Namespace) -> dict[str, Any]:
    return run_child([str(BENCH_DIR / "_phase.py"), name, str(root / "spec.json")], _env(code, args.threads))


def cold(root: Path, code: Path, args: argparse.Namespace) -> dict[str, float]:
    log(f"cold start: {code}")
    env = _env(code, args.threads, INDEX_CACHE_DIR=str(root / "ours-cache"))
    samples = []
    for _ in range(args.runs):
        data = run_child(
            [str(BENCH_DIR / "_cold_ours.py"), str(root / f"catalog-{label(SMALL_SIZE)}.json"), COLD_QUERY],
            env,
        )
        if data["source"] != "store":
            raise RuntimeError(f"cold start built its index ({data['source']}) instead of loading it")
        samples.append((data["own_s"], data["peak_rss_kib"] * 1024 / 1e6))
    own, rss = (statistics.median(c) for c in zip(*samples, strict=True))
    return {"own_s": round(own, 3), "peak_rss_mb": round(rss, 1)}


def render(results: dict[str, dict[str, Any]], args: argparse.Namespace, load: float) -> str:
    names = list(results)
    rows: list[tuple[str, Callable[[dict[str, Any]], Any], str]] = [
        ("cold start, 1k tools: imports → first result (s, median)", lambda r: r["cold"]["own_s"], "≤ 0.8"),
        ("cold start peak RSS (MB)", lambda r: r["cold"]["peak_rss_mb"], "≤ 200"),
        ("warm search p50, 10k tools (ms)", lambda r: r["warm"]["sizes"][label(LARGE)]["p50"], ""),
        ("warm search p95, 10k tools (ms)", lambda r: r["warm"]["sizes"][label(LARGE)]["p95"], "≤ 12"),
        ("warm search p95, 1k tools (ms)", lambda r: r["warm"]["sizes"][label(SMALL_SIZE)]["p95"], ""),
        (
            "build, 10k tools from scratch (s)",
            lambda r: r["build"]["builds"][label(LARGE)]["seconds"],
            "no slower",
        ),
        (
            "build, 1k tools from scratch (s)",
            lambda r: r["build"]["builds"][label(SMALL_SIZE)]["seconds"],
            "",
        ),
        ("rebuild after editing 1% (s)", lambda r: r["build"]["rebuild"]["seconds"], ""),
        ("tools embedded by that rebuild", lambda r: r["build"]["rebuild"]["embedded"], "100"),
        ("tokens given to the model for the 10k catalog", lambda r: r["text"]["tokens"], ""),
        (
            "10k build besides the model: texts, BM25 (s, best of 3)",
            lambda r: r["text"]["build_without_model_s"],
            "",
        ),
    ]
    command = shlex.join(
        [".venv/bin/python", "bench/search_budgets.py", args.base, "--rounds", str(args.rounds)]
    )
    out = [
        "## Search budgets, before and after",
        "",
        f"- **Command**: `{command}`; {args.threads} threads; each phase for both versions in turn, "
        "in its own process; cold and warm: the best of "
        f"{args.rounds} alternating rounds (cold: median of {args.runs} starts each), builds: the best of "
        f"{args.build_rounds} alternating",
        f"- **Load average** at the end: {load:.2f} (1-minute; 2 CPUs shared with other work, so "
        "timings are noisy)",
        "",
        "| measure | " + " | ".join(names) + " | budget |",
        "|---|" + "---|" * len(names) + "---|",
    ]
    for title, get, budget in rows:
        out.append(f"| {title} | " + " | ".join(f"{get(results[n])}" for n in names) + f" | {budget} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    main()
