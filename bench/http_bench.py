"""HTTP search benchmark: ``POST /api/tools/search`` through the dev host, as a client sees it.

Starts Azurite and the dev host (``python -m toolweaver.devhost``) in a process of its own, so the
server and the load generator do not share a GIL; warms it up (the app's warmup trigger, or else
the first search, loads the model and builds the index of the demo catalog); then drives it from
this process with aiohttp: a fixed number of keep-alive connections, each sending its next request
as soon as the previous answer is read, for a fixed time per workload. Two workloads, apart:

- repeated: 200 realistic queries cycled. The warm-up sends each once, so in the timed window
  they are answered from the search result cache: an app whose users ask similar things.
- distinct: every request a query never sent before, so every request runs the model.

Writes its section of the report between ``<!-- http-bench:start -->`` and
``<!-- http-bench:end -->``, leaving the rest of the file (bench/search_bench.py's) as it is.

    .venv/bin/python bench/http_bench.py [--quick] [--seconds S] [--concurrency N] [--out FILE]

The server, Azurite and this load generator share the machine's CPUs; each one's CPU seconds are
reported (read from /proc) so the numbers can be judged for what they are.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import random
import re
import secrets
import shlex
import signal
import statistics
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: the package is used from the repo, not installed
    sys.path.insert(0, str(REPO))

from _provenance import commit_label, cpu_model  # noqa: E402 - bench/ is sys.path[0] when run as a script
from _sections import replace_section  # noqa: E402

from toolweaver.devhost.azurite import Azurite  # noqa: E402
from toolweaver.devhost.process import DevHostProcess  # noqa: E402
from toolweaver.observability.tracking import log_run  # noqa: E402

SECTION = "http-bench"
DEFAULT_OUT = REPO / "bench" / "RESULTS.md"
DEFAULT_DATASETS = REPO.parent / "shared" / "datasets"
DEFAULT_SECONDS = 20.0
QUICK_SECONDS = 5.0
DEFAULT_CONCURRENCY = 8
REPEATED_QUERIES = 200
TOP_K = 5
BUDGET_RPS = 200.0
BUDGET_P95_MS = 50.0
REQUEST_TIMEOUT = 60.0  # generous: a timeout is counted as a transport error, not hidden
START_TIMEOUT = 120.0
WARMUP_QUERY = "warm up the model and the index before the timed runs"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PREWARMED = re.compile(r"prewarmed: index \S+ from (?P<source>\S+) in (?P<seconds>[\d.]+) s")
_START = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - _START:6.1f}s] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Queries


def dataset_queries(datasets: Path) -> list[str]:
    """MetaTool's request texts, distinct, in a fixed shuffled order; [] when the files are absent."""
    texts: list[str] = []
    for path in sorted((datasets / "metatool").glob("*queries*.jsonl")):
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                record = json.loads(line)
                # The field is "text" in the files here; other exports call it "query".
                text = next((record[k] for k in ("text", "query", "question") if k in record), None)
                if isinstance(text, str) and text.strip():
                    texts.append(text.strip())
    unique = list(dict.fromkeys(texts))
    random.Random(0).shuffle(unique)  # a fixed mix of topics, the same every run
    return unique


_VERBS = (
    "find",
    "book",
    "send",
    "check",
    "convert",
    "translate",
    "summarize",
    "schedule",
    "look up",
    "compare",
    "cancel",
    "track",
)
_OBJECTS = (
    "a flight to Paris",
    "the weather in Tokyo",
    "an email to my team",
    "the exchange rate for yen",
    "a table for four tonight",
    "my package from Berlin",
    "a meeting with the designers",
    "this PDF into plain text",
    "the latest news about chips",
    "a hotel near the station",
    "my calendar for next week",
    "the price of a used bike",
)
_CONTEXTS = (
    "for tomorrow morning",
    "as soon as possible",
    "before the board meeting",
    "for my manager",
    "in French",
    "under 100 euros",
    "with a reminder",
    "for the whole family",
    "and share it on Slack",
    "every Monday",
)


def phrase_queries() -> Iterator[str]:
    """Requests made by combining phrases; endless, and no text comes twice."""
    combos = [f"{v} {o} {c}" for v, o, c in itertools.product(_VERBS, _OBJECTS, _CONTEXTS)]
    random.Random(1).shuffle(combos)
    for round_no in itertools.count():
        for text in combos:
            yield text if round_no == 0 else f"{text} (request {round_no})"


def workload_queries(datasets: Path) -> tuple[list[str], Iterator[str], str]:
    """The repeated set, the endless distinct stream (never overlapping), and where they come from."""
    texts = [t for t in dataset_queries(datasets) if t != WARMUP_QUERY]
    if len(texts) > REPEATED_QUERIES:
        repeated, rest = texts[:REPEATED_QUERIES], texts[REPEATED_QUERIES:]
        seen = {*repeated, WARMUP_QUERY}
        # Past the end of the dataset, fall back to generated texts rather than repeat one.
        tail = (t for t in phrase_queries() if t not in seen)
        source = f"MetaTool queries ({len(texts):,} distinct texts), then generated phrases if exhausted"
        return repeated, itertools.chain(rest, tail), source
    generated = phrase_queries()
    repeated = list(itertools.islice(generated, REPEATED_QUERIES))
    return repeated, generated, "generated phrases (no MetaTool queries found)"


# ---------------------------------------------------------------------------------------------
# Processes


def cpu_seconds(pid: int | str) -> float:
    """utime + stime of one process (all its threads), from /proc/<pid>/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "; fields[0] is field 3
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def group_cpu_seconds(pgid: int) -> float:
    """CPU seconds of every live process in a process group (Azurite: node and anything it starts)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text(encoding="ascii")
        except OSError:  # exited while we looked
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == pgid:
            total += (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    return total


class Host(DevHostProcess):
    """The dev host serving the repository's function_app.py, with what the report needs."""

    def start(self, timeout: float = START_TIMEOUT, ready: tuple[int, ...] = (200,)) -> float:
        return super().start(timeout, ready)

    def get(self, path: str, key: str | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(self.url + path)  # noqa: S310 - loopback, our own URL
        if key:
            request.add_header("x-functions-key", key)
        try:
            with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:  # noqa: S310
                return response.status, response.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()
        except OSError:
            return 0, b""

    def prewarm_report(self) -> str | None:
        """What the app's warmup trigger logged: the host runs it before it serves."""
        try:
            found = _PREWARMED.search(self.log_path.read_text(encoding="utf-8", errors="replace"))
        except OSError:
            return None
        return f"{found['seconds']} s, index: {found['source']}" if found else None


# ---------------------------------------------------------------------------------------------
# Load


@dataclass
class Run:
    """What one timed run of the load generator saw."""

    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)  # of every answer, 2xx or not
    statuses: Counter[int] = field(default_factory=Counter)
    transport: Counter[str] = field(default_factory=Counter)  # exception name -> count
    cache_hits: int = 0

    @property
    def non_2xx(self) -> int:
        return sum(n for status, n in self.statuses.items() if not 200 <= status < 300)

    @property
    def transport_errors(self) -> int:
        return sum(self.transport.values())


async def drive(url: str, key: str, queries: Iterator[str], *, seconds: float, concurrency: int) -> Run:
    """``concurrency`` connections, each sending its next search when its last answer is read,
    until ``seconds`` have passed or ``queries`` runs out. Requests in flight then finish."""
    run = Run()
    headers = {"x-functions-key": key, "Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        deadline = started + seconds

        async def connection() -> None:
            while time.perf_counter() < deadline:
                try:
                    query = next(queries)
                except StopIteration:
                    return
                body = json.dumps({"query": query, "top_k": TOP_K}).encode()
                sent = time.perf_counter()
                try:
                    async with session.post(url, data=body, headers=headers) as response:
                        payload = await response.read()
                except (aiohttp.ClientError, TimeoutError) as exc:
                    run.transport[type(exc).__name__] += 1
                    await asyncio.sleep(0.01)  # a refused connection must not become a busy loop
                    continue
                run.latencies.append(time.perf_counter() - sent)
                run.statuses[response.status] += 1
                run.cache_hits += b'"cached":true' in payload

        await asyncio.gather(*(connection() for _ in range(concurrency)))
        run.seconds = time.perf_counter() - started
    return run


@dataclass
class Outcome:
    name: str
    description: str
    run: Run
    server_cpu: float
    client_cpu: float
    azurite_cpu: float

    @property
    def requests(self) -> int:
        return len(self.run.latencies)

    @property
    def rps(self) -> float:
        return self.requests / self.run.seconds if self.run.seconds else 0.0

    def percentile_ms(self, p: int) -> float:
        data = self.run.latencies
        if not data:
            return float("nan")
        if len(data) == 1:
            return data[0] * 1000
        return statistics.quantiles(data, n=100, method="inclusive")[p - 1] * 1000

    @property
    def max_ms(self) -> float:
        return max(self.run.latencies, default=float("nan")) * 1000

    @property
    def errors(self) -> int:
        return self.run.non_2xx + self.run.transport_errors

    def budget(self) -> str:
        """'pass', or 'MISS' and each figure that missed: computed, never written by hand."""
        misses = []
        if not self.rps >= BUDGET_RPS:
            misses.append(f"{self.rps:,.0f} req/s < {BUDGET_RPS:,.0f}")
        p95 = self.percentile_ms(95)
        if not self.requests:
            misses.append("no answers")
        elif not p95 <= BUDGET_P95_MS:
            misses.append(f"p95 {p95:,.1f} ms > {BUDGET_P95_MS:,.0f}")
        if self.errors:
            misses.append(f"{self.errors:,} errors")
        return "pass" if not misses else f"MISS ({'; '.join(misses)})"


@dataclass(frozen=True)
class Target:
    host: Host
    key: str
    azurite_pgid: int  # Azurite's process group, for its CPU time

    @property
    def search_url(self) -> str:
        return f"{self.host.url}/tools/search"


def measure(
    target: Target, queries: Iterator[str], *, name: str, description: str, seconds: float, concurrency: int
) -> Outcome:
    """One timed run, with the CPU seconds each process spent during it."""
    process = target.host.process
    if process is None:
        raise RuntimeError("the dev host is not running")

    def cpu() -> tuple[float, float, float]:
        return cpu_seconds(process.pid), cpu_seconds("self"), group_cpu_seconds(target.azurite_pgid)

    before = cpu()
    run = asyncio.run(drive(target.search_url, target.key, queries, seconds=seconds, concurrency=concurrency))
    after = cpu()
    server, client, azurite = (b - a for a, b in zip(before, after, strict=True))
    return Outcome(name, description, run, server, client, azurite)


# ---------------------------------------------------------------------------------------------
# Report


def _ms(value: float) -> str:
    return f"{value:,.1f}"


def render(
    outcomes: Sequence[Outcome],
    *,
    argv: Sequence[str],
    seconds: float,
    concurrency: int,
    warmup: dict[str, Any],
    source: str,
    load: tuple[float, float],
) -> str:
    cpus = os.cpu_count() or 1
    warm = f"host healthy {warmup['start_s']:.1f} s after its start"
    if warmup["prewarm"]:  # the warmup trigger ran before the host served: model and index were loaded
        warm += f" (its warmup trigger loaded the model and the index: {warmup['prewarm']})"
    python = Path(sys.executable)
    shown = python.relative_to(REPO) if python.is_relative_to(REPO) else python
    lines = [
        "## HTTP search through the dev host",
        "",
        f"- **Date**: {datetime.now(UTC).strftime('%Y-%m-%d %H:%M UTC')}",
        f"- **Machine**: {cpus} CPUs, {cpu_model()} (platform.processor: {platform.processor() or 'empty'})",
        f"- **Commit**: {commit_label()}",
        f"- **Command**: `{shlex.join([str(shown), 'bench/http_bench.py', *argv])}`",
        f"- **Load**: {concurrency} concurrent keep-alive connections (aiohttp, in the benchmark process), "
        f"{seconds:g} s per workload, each connection sending its next request when the last answer "
        f'is read; `POST /api/tools/search` with `{{"query": ..., "top_k": {TOP_K}}}`',
        "- **Server**: `python -m toolweaver.devhost --app function_app.py` in its own process, its "
        f"default settings, against a local Azurite; the demo catalog ({warmup['tools']} tools)",
        f"- **Warm-up**: {warm}; first search {warmup['first_search_s']:.2f} s; then each of the "
        f"{REPEATED_QUERIES} repeated queries once ({warmup['priming_s']:.1f} s), untimed",
        f"- **Queries**: {source}",
        f"- **Load average**: {load[0]:.2f} at the start, {load[1]:.2f} at the end (1-minute)",
        "",
        "| workload | requests | req/s | p50 ms | p95 ms | p99 ms | max ms | cache hits | non-2xx "
        "| transport errors | server CPU s | server CPU ms/request | load generator CPU s "
        "| Azurite CPU s | budget |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for o in outcomes:
        per_request = o.server_cpu * 1000 / o.requests if o.requests else float("nan")
        lines.append(
            f"| {o.name} | {o.requests:,} | {o.rps:,.1f} | {_ms(o.percentile_ms(50))} "
            f"| {_ms(o.percentile_ms(95))} | {_ms(o.percentile_ms(99))} | {_ms(o.max_ms)} "
            f"| {o.run.cache_hits:,} | {o.run.non_2xx:,} | {o.run.transport_errors:,} "
            f"| {o.server_cpu:.1f} | {per_request:.2f} | {o.client_cpu:.1f} | {o.azurite_cpu:.1f} "
            f"| {o.budget()} |"
        )
    lines += [
        "",
        f"Budget per workload: at least {BUDGET_RPS:g} requests/s, p95 at most {BUDGET_P95_MS:g} ms, "
        "and no errors (non-2xx answers or transport errors). Latency is from sending the request "
        "to reading the whole answer, on the client.",
        "",
    ]
    lines += [f"- **{o.name}**: {o.description}" for o in outcomes]
    lines += [""]
    for o in outcomes:
        share = [
            f"server {o.server_cpu / o.run.seconds:.2f}",
            f"load generator {o.client_cpu / o.run.seconds:.2f}",
            f"Azurite {o.azurite_cpu / o.run.seconds:.2f}",
        ]
        details = []
        if o.run.non_2xx:
            details.append(f"statuses {dict(sorted(o.run.statuses.items()))}")
        if o.run.transport:
            details.append(f"transport errors {dict(o.run.transport)}")
        extra = f"; {', '.join(details)}" if details else ""
        lines.append(
            f"CPUs busy during **{o.name}** ({o.run.seconds:.1f} s): {', '.join(share)} of {cpus}{extra}."
        )
    lines += [
        "",
        f"The server, the load generator and Azurite share the same {cpus} CPUs: what the other two "
        "use is not available to the server.",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Main


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/http_bench.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, help=f"seconds per workload (default {DEFAULT_SECONDS:g})")
    parser.add_argument("--quick", action="store_true", help=f"{QUICK_SECONDS:g} s per workload")
    parser.add_argument(
        "--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="connections (default 8)"
    )
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS, help="the shared datasets folder")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help="report to update (default bench/RESULTS.md)"
    )
    args = parser.parse_args(argv)
    if args.seconds is None:
        args.seconds = QUICK_SECONDS if args.quick else DEFAULT_SECONDS
    if args.seconds <= 0 or args.concurrency < 1:
        parser.error("--seconds must be positive and --concurrency at least 1")
    return args


def warm_up(target: Target, repeated: Sequence[str], concurrency: int) -> dict[str, Any]:
    """First search (the model and index are loaded unless the warmup trigger did it), then prime
    the result cache with the repeated set."""
    started = time.perf_counter()
    first = asyncio.run(
        drive(target.search_url, target.key, iter([WARMUP_QUERY]), seconds=START_TIMEOUT, concurrency=1)
    )
    first_search = time.perf_counter() - started
    if first.statuses != Counter({200: 1}):
        raise RuntimeError(f"the first search failed: {dict(first.statuses)} {dict(first.transport)}")
    log(f"first search answered in {first_search:.2f} s")
    priming = measure(
        target, iter(repeated), name="priming", description="", seconds=START_TIMEOUT, concurrency=concurrency
    )
    if priming.errors or priming.requests != len(repeated):
        raise RuntimeError(
            f"priming the cache failed: {dict(priming.run.statuses)} {dict(priming.run.transport)}"
        )
    status, body = target.host.get("/tools?limit=1", target.key)
    tools = json.loads(body)["total"] if status == 200 else "an unknown number of"
    return {
        "first_search_s": first_search,
        "priming_s": priming.run.seconds,
        "tools": tools,
        "prewarm": target.host.prewarm_report(),
    }


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    # On SIGTERM unwind normally, so the finally blocks stop the host and Azurite.
    signal.signal(signal.SIGTERM, lambda signum, _frame: sys.exit(128 + signum))
    repeated, distinct, source = workload_queries(args.datasets)
    load_start = os.getloadavg()[0]
    key = secrets.token_urlsafe(24)
    suffix = uuid.uuid4().hex[:8]
    outcomes: list[Outcome] = []
    with tempfile.TemporaryDirectory(prefix="http-bench-") as tmp, Azurite() as azurite:
        # Private, but the only handle on Azurite's process; it runs in its own process group.
        azurite_pgid = azurite._process.pid if azurite._process is not None else -1
        settings = {
            "AzureWebJobsStorage": azurite.connection_string,
            "DEVHOST_FUNCTION_KEY": key,
            "CACHE_CONTAINER": f"bench-cache-{suffix}",
            "JOBS_CONTAINER": f"bench-jobs-{suffix}",
            "INDEX_CACHE_DIR": str(Path(tmp) / "index-cache"),  # build the index, do not reuse one
            # One load generator is one caller: the per-caller limits would measure themselves.
            "REQUESTS_PER_MINUTE": "0",
            "REQUESTS_PER_HOUR": "0",
        }
        host = Host(settings, Path(tmp))
        target = Target(host, key, azurite_pgid)
        try:
            log(f"starting the dev host on port {host.port}")
            start_s = host.start()
            log(f"dev host healthy after {start_s:.1f} s; warming up")
            warmup = {"start_s": start_s, **warm_up(target, repeated, args.concurrency)}
            workloads = [
                (
                    "repeated",
                    f"{REPEATED_QUERIES} queries cycled, each already asked once during the warm-up: "
                    "answered from the search result cache.",
                    itertools.cycle(repeated),
                ),
                (
                    "distinct",
                    "every request a query never sent before: each one runs the model and the search.",
                    distinct,
                ),
            ]
            for name, description, queries in workloads:
                log(f"{name}: {args.seconds:g} s at {args.concurrency} connections")
                outcome = measure(
                    target,
                    queries,
                    name=name,
                    description=description,
                    seconds=args.seconds,
                    concurrency=args.concurrency,
                )
                log(
                    f"{name}: {outcome.requests:,} requests, {outcome.rps:,.1f} req/s, "
                    f"p95 {outcome.percentile_ms(95):.1f} ms, {outcome.errors} errors -> {outcome.budget()}"
                )
                outcomes.append(outcome)
        except RuntimeError as exc:
            print(f"error: {exc}\nhost log:\n{host.log_tail()}", file=sys.stderr)
            return 1
        finally:
            host.stop()
    markdown = render(
        outcomes,
        argv=argv,
        seconds=args.seconds,
        concurrency=args.concurrency,
        warmup=warmup,
        source=source,
        load=(load_start, os.getloadavg()[0]),
    )
    replace_section(args.out, SECTION, markdown)
    log(f"wrote the {SECTION} section of {args.out}")
    print(markdown)
    figures = {
        outcome.name: {
            "requests_per_s": outcome.rps,
            "p50_ms": outcome.percentile_ms(50),
            "p95_ms": outcome.percentile_ms(95),
            "errors": outcome.errors,
        }
        for outcome in outcomes
    }
    log_run("http-bench", {"seconds": args.seconds, "concurrency": args.concurrency}, figures)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the finally blocks have stopped the host and Azurite
        print("interrupted", file=sys.stderr)
        sys.exit(130)
