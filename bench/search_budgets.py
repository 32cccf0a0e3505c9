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
import os
import shlex
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
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument("--out", type=Path, default=BENCH_DIR / "RESULTS.md")
    args = parser.parse_args()
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
        results: dict[str, dict[str, Any]] = {}
        for name, code in versions.items():
            results[name] = {"build": measure_build(root / name, code, args)}
        for name, code in versions.items():
            results[name]["cold"] = cold(root / name, code, args)
        for name, code in versions.items():
            results[name]["warm"] = phase("ours-warm", root / name, code, args)
    load = os.getloadavg()[0]
    replace_section(args.out, "search-budgets", render(results, args, load))
    log(f"wrote the search-budgets section of {args.out}")


def _env(code: Path, threads: int, **extra: str) -> dict[str, str]:
    env = child_env(threads, **extra)
    env["PYTHONPATH"] = str(code)  # this version's toolweaver; the bench scripts come from their own folder
    return env


def measure_build(root: Path, code: Path, args: argparse.Namespace) -> dict[str, Any]:
    root.mkdir()
    plan = Plan(
        quick=False,
        out=args.out,
        datasets=args.datasets,
        threads=args.threads,
        runs=args.runs,
        large=LARGE,
        latency_queries=500,
        quality_limit=None,
    )
    write_spec(plan, prepare(plan, root))
    log(f"build: {code}")
    return phase("ours-build", root, code, args)


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
    ]
    command = shlex.join([".venv/bin/python", "bench/search_budgets.py", args.base])
    out = [
        "## Search budgets, before and after",
        "",
        f"- **Command**: `{command}`; {args.threads} threads; each phase for both versions in turn, "
        "in its own process",
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
