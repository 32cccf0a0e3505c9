"""Sandbox benchmark: what one run of an untrusted program costs end to end, in-process.

Measures, through ``LocalSandboxRunner.run`` (AST pre-check, fork from the zygote, confinement,
frames, reaping): a trivial program run after run; a program with one tool call; 20 runs in
flight at a time (throughput); the zygote's start-up; and, for comparison, starting a fresh
interpreter that imports what a child needs (the cost the zygote avoids on every run).

Writes its section of the report between ``<!-- sandbox-bench:start -->`` and
``<!-- sandbox-bench:end -->``, leaving the rest of bench/RESULTS.md as it is.

    .venv/bin/python bench/sandbox_bench.py [--runs N] [--concurrency C] [--out FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: the package is used from the repo, not installed
    sys.path.insert(0, str(REPO))

from _sections import replace_section  # noqa: E402 - bench/ is sys.path[0] when run as a script

from toolweaver.execution.ports import RunLimits, RunOutcome  # noqa: E402
from toolweaver.execution.sandbox import LocalSandboxRunner  # noqa: E402
from toolweaver.observability.tracking import log_run  # noqa: E402

SECTION = "sandbox-bench"
TRIVIAL = "result = 1 + 1"
ONE_CALL = "r = await echo(text='hi')\nresult = r['text']"
LIMITS = RunLimits(timeout_s=10.0)
FRESH_IMPORTS = (
    "import asyncio, json, re, math, datetime, statistics, itertools, functools, collections, "
    "random, string, decimal, fractions, ctypes, pyseccomp"
)


class Echo:
    async def invoke(self, name: str, arguments: dict[str, Any]) -> Any:
        return arguments


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(values_ms: Sequence[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values_ms),
        "p95": percentile(values_ms, 0.95),
        "p99": percentile(values_ms, 0.99),
        "max": max(values_ms),
        "mean": statistics.fmean(values_ms),
    }


async def timed(runner: LocalSandboxRunner, code: str) -> tuple[float, RunOutcome]:
    started = time.perf_counter()
    outcome = await runner.run(code, tools=Echo(), tool_names=["echo"], limits=LIMITS)
    return (time.perf_counter() - started) * 1000, outcome


async def sequential(runner: LocalSandboxRunner, code: str, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        elapsed, outcome = await timed(runner, code)
        if outcome.status != "succeeded":
            raise RuntimeError(f"benchmark run failed: {outcome.status}: {outcome.error}")
        times.append(elapsed)
    return times


async def concurrent(runner: LocalSandboxRunner, runs: int, width: int) -> tuple[float, list[float]]:
    gate = asyncio.Semaphore(width)

    async def one() -> float:
        async with gate:
            elapsed, outcome = await timed(runner, TRIVIAL)
        if outcome.status != "succeeded":
            raise RuntimeError(f"benchmark run failed: {outcome.status}: {outcome.error}")
        return elapsed

    started = time.perf_counter()
    times = await asyncio.gather(*(one() for _ in range(runs)))
    return time.perf_counter() - started, list(times)


def fresh_interpreter_ms(runs: int) -> list[float]:
    """A new ``python -I`` importing what a child needs: the per-run cost without a zygote."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-I", "-c", FRESH_IMPORTS], env={}, check=True)
        times.append((time.perf_counter() - started) * 1000)
    return times


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    runner = LocalSandboxRunner()
    try:
        started = time.perf_counter()
        await runner.start()
        zygote_ms = (time.perf_counter() - started) * 1000
        await sequential(runner, TRIVIAL, 10)  # warm-up
        trivial = await sequential(runner, TRIVIAL, args.runs)
        one_call = await sequential(runner, ONE_CALL, max(args.runs // 2, 10))
        wall, loaded = await concurrent(runner, args.runs, args.concurrency)
        health = runner.health()
    finally:
        runner.close()
    return {
        "zygote_ms": zygote_ms,
        "trivial": summary(trivial),
        "one_call": summary(one_call),
        "throughput": args.runs / wall,
        "loaded": summary(loaded),
        "fresh": summary(fresh_interpreter_ms(args.fresh_runs)),
        "seccomp": (health.seccomp_active, health.seccomp_detail),
    }


def report(results: dict[str, Any], args: argparse.Namespace) -> str:
    load = os.getloadavg()[0]
    active, detail = results["seccomp"]
    rows = [
        ("trivial program, one at a time", args.runs, results["trivial"]),
        ("one tool call, one at a time", max(args.runs // 2, 10), results["one_call"]),
        (f"trivial program, {args.concurrency} in flight", args.runs, results["loaded"]),
        ("fresh `python -I` + child imports (no zygote)", args.fresh_runs, results["fresh"]),
    ]
    lines = [
        "# Sandbox benchmark",
        "",
        f"- **Date**: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- **Machine**: {os.cpu_count()} CPUs, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}",
        f"- **Command**: `.venv/bin/python bench/sandbox_bench.py --runs {args.runs} "
        f"--concurrency {args.concurrency}`",
        f"- **Seccomp filter**: {'active' if active else f'OFF ({detail})'}",
        f"- **Load average**: {load:.2f} (1-minute, at the end)",
        "",
        "End to end through `LocalSandboxRunner.run` in one process: AST pre-check, fork from the "
        "zygote, confinement (rlimits, root dropped, seccomp), frames, kill and reap.",
        "",
        "| workload | runs | median ms | p95 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|",
    ]
    for name, runs, s in rows:
        lines.append(
            f"| {name} | {runs} | {s['median']:.1f} | {s['p95']:.1f} | {s['p99']:.1f} | {s['max']:.1f} |"
        )
    lines += [
        "",
        f"- **Throughput**, {args.concurrency} runs in flight: "
        f"**{results['throughput']:.0f} runs/s** ({args.runs} trivial programs)",
        f"- **Zygote start** (once per process, or after it dies): {results['zygote_ms']:.0f} ms",
        "- Target: a trivial run under 150 ms median.",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/sandbox_bench.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--runs", type=int, default=200, help="runs per workload (default 200)")
    parser.add_argument("--concurrency", type=int, default=20, help="runs in flight (default 20)")
    parser.add_argument("--fresh-runs", type=int, default=20, help="fresh interpreters for comparison")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "RESULTS.md")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    results = asyncio.run(measure(args))
    markdown = report(results, args)
    print(markdown)
    replace_section(args.out, SECTION, markdown)
    figures = {"throughput_runs_per_s": results["throughput"], "zygote_ms": results["zygote_ms"]}
    for name in ("trivial", "one_call", "loaded", "fresh"):
        figures[name] = {k: v for k, v in results[name].items() if isinstance(v, (int, float))}
    log_run("sandbox-bench", {"runs": args.runs, "concurrency": args.concurrency}, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
