"""What recording costs: metrics, request ids, logs context and spans, against a warm search.

Measures, in one process:

- **warm search**: search requests answered by ``dispatch`` (the function app's request path,
  parsing and JSON included) with the real ONNX model, each query new, so every request runs the
  model; median, p95 and process CPU. Over the 10,000-tool catalog of the search benchmark (the
  design's "warm search"; it needs ../shared/datasets) and over the small demo catalog.
- **recording per request**: ``dispatch`` of a route whose handler does nothing, so the time is
  what every request pays around its handler: the request id and its log context, the span, the
  rate-limit check, the request counter and latency histogram. Then the search-specific records
  (the search latency histogram and the cache lookup counter). Once with the default backend
  (prometheus: no-op spans) and once with an OpenTelemetry SDK tracer whose spans are batched and
  exported over OTLP to a collector on loopback (the ``otlp`` and ``azuremonitor`` shape).
- **bridge pump**: one push of the registry's changes to a sink (push backends do it every
  ``ANALYTICS_INTERVAL_SECONDS``, off the request path).

Writes the ``observability-bench`` section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: the package is used from the repo, not installed
    sys.path.insert(0, str(REPO))

from _common import DEFAULT_DATASETS, latency_queries, log, synthetic_catalog, union_tools  # noqa: E402
from _provenance import commit_label, cpu_model  # noqa: E402 - bench/ is sys.path[0] as a script
from _sections import replace_section  # noqa: E402

from toolweaver.api.http import ApiRequest, ApiResponse, json_response  # noqa: E402
from toolweaver.api.routes import ROUTES, Operation, Route, dispatch  # noqa: E402
from toolweaver.catalog.loaders import dump_catalog  # noqa: E402
from toolweaver.observability import tracing  # noqa: E402
from toolweaver.observability.analytics import NullSink, RegistryBridge  # noqa: E402
from toolweaver.observability.metrics import CACHE_LOOKUPS, REGISTRY, SEARCH_LATENCY  # noqa: E402
from toolweaver.observability.tracking import log_run  # noqa: E402
from toolweaver.services import Services  # noqa: E402
from toolweaver.settings import DEMO_CATALOG, Settings  # noqa: E402
from toolweaver.storage.filesystem import FileSystemBlobStore  # noqa: E402

SECTION = "observability-bench"
SEARCH_ROUTE = next(route for route in ROUTES if route.function_name == "tools_search")
QUERY_WORDS = (
    "weather forecast Paris tomorrow, send an email to my team, convert 12 miles to kilometres, "
    "what time is it in Tokyo, count the words of this paragraph, book a table for two, "
    "translate hello into French, remind me to call mum, calculate 17 percent of 240"
).split(", ")


def noop_route() -> Route:
    def handler(request: ApiRequest, services: Services) -> ApiResponse:
        return json_response(200, {})

    return Route("noop", "noop", {"GET": Operation(handler, "nothing", {200: "OK"})})


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def search_costs(services: Services, count: int, queries: Sequence[str]) -> tuple[list[float], float]:
    """Milliseconds per search request, every query new (no cache can answer it), and the
    process CPU milliseconds per request (onnxruntime's threads included)."""
    latencies = []
    cpu_started = time.process_time()
    for n in range(count):
        body = json.dumps({"query": f"{queries[n % len(queries)]} #{n}"}).encode()
        headers = {"content-type": "application/json", "x-functions-key": "bench"}
        request = ApiRequest("POST", "/api/tools/search", body, headers=headers)
        started = time.perf_counter()
        response = dispatch(SEARCH_ROUTE, request, services)
        latencies.append((time.perf_counter() - started) * 1000)
        if response.status != 200:
            raise RuntimeError(f"search answered {response.status}: {response.body[:200]!r}")
    return latencies, (time.process_time() - cpu_started) / count * 1000


def cost_us(
    action: Callable[[], object], calls: int, repeats: int, drain: Callable[[], object]
) -> dict[str, float]:
    """Per call: wall microseconds, and CPU microseconds of the whole process (every thread: a span
    exporter's serialising and sending counts too). Calls come in batches of 100 with ``drain``
    (flushing what was batched) after each, as requests spread over time would allow; the median
    of ``repeats`` rounds."""
    wall, cpu = [], []
    for _ in range(repeats):
        wall_started, cpu_started = time.perf_counter(), time.process_time()
        for done in range(calls):
            action()
            if done % 100 == 99:
                drain()
        drain()
        wall.append((time.perf_counter() - wall_started) / calls * 1e6)
        cpu.append((time.process_time() - cpu_started) / calls * 1e6)
    return {"wall": statistics.median(wall), "cpu": statistics.median(cpu)}


def nothing() -> None:
    return None


def search_records() -> None:
    """What a search handler records besides the request: its latency and one cache lookup."""
    SEARCH_LATENCY.labels("miss").observe(0.007)
    CACHE_LOOKUPS.labels("search", "miss").inc()


@contextmanager
def otlp_collector() -> Iterator[str]:
    """An OTLP/HTTP endpoint on loopback that accepts and drops what it is sent."""

    class Accept(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Accept)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def warm_search(catalog_path: Path, tmp: Path, count: int, queries: Sequence[str]) -> dict[str, float]:
    """Warm search over the catalog at ``catalog_path``: index built first, then ``count`` requests."""
    folder = tmp / catalog_path.stem
    services = Services(
        Settings(requests_per_minute=0, requests_per_hour=0, catalog_path=catalog_path),
        cache_store=FileSystemBlobStore(folder),
    )
    _, _, report = services.current_engine()  # model loaded and index built before timing
    log(f"{catalog_path.name}: index {report.source}; warming up")
    search_costs(services, 30, queries)
    latencies, cpu_ms = search_costs(services, count, queries)
    return {"p50": statistics.median(latencies), "p95": percentile(latencies, 95), "cpu": cpu_ms}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"search_ms": {}}
    with TemporaryDirectory(prefix="observability-bench-") as tmp_dir:
        tmp = Path(tmp_dir)
        if (args.datasets / "metatool").is_dir():
            catalog = synthetic_catalog(union_tools(args.datasets), args.tools)
            dump_catalog(catalog, tmp / "catalog-large.json")
            queries = latency_queries(args.datasets, args.searches + 30)
            log(f"building the {len(catalog):,}-tool index (once)")
            results["search_ms"][f"{len(catalog):,} tools"] = warm_search(
                tmp / "catalog-large.json", tmp, args.searches, queries
            )
        else:
            log(f"no datasets at {args.datasets}: the demo catalog only")
        results["search_ms"]["demo catalog"] = warm_search(DEMO_CATALOG, tmp, args.searches, QUERY_WORDS)

        limited = Services(Settings(), cache_store=FileSystemBlobStore(tmp / "cache"))
        route, request = noop_route(), ApiRequest("GET", "/api/noop", headers={"x-functions-key": "k"})
        limited.rate_limiter.limits.update(minute=10**9, hour=10**9)  # counted, never refused
        calls, repeats = args.calls, args.repeats

        results["request_us"] = {
            "prometheus": cost_us(lambda: dispatch(route, request, limited), calls, repeats, nothing)
        }
        results["search_records_us"] = cost_us(search_records, calls, repeats, nothing)

        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        with otlp_collector() as endpoint:
            provider = TracerProvider(shutdown_on_exit=False)
            provider.add_span_processor(
                BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint + "/v1/traces"))
            )
            tracing.install(provider)
            try:
                results["request_us"]["otlp spans"] = cost_us(
                    lambda: dispatch(route, request, limited), calls, repeats, provider.force_flush
                )
            finally:
                tracing.install(None)
                provider.shutdown()

        bridge = RegistryBridge(REGISTRY, NullSink())
        bridge.pump()
        search_records()
        dispatch(route, request, limited)
        started = time.perf_counter()
        sent = bridge.pump()
        results["pump"] = {"ms": (time.perf_counter() - started) * 1000, "records": sent}
    return results


def render(results: dict[str, Any], args: argparse.Namespace, load: tuple[float, float]) -> str:
    code = f"commit {commit_label()}"
    searches = results["search_ms"]
    reference_name = next(iter(searches))  # the large catalog when there is one
    reference = searches[reference_name]
    lines = [
        "# Observability overhead",
        "",
        f"- **Date**: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- **Machine**: {os.cpu_count()} CPUs, {cpu_model()}",
        f"- **Code**: {code}",
        f"- **Command**: `.venv/bin/python bench/observability_bench.py {' '.join(sys.argv[1:])}`".rstrip(),
        f"- **Load average**: {load[0]:.2f} at the start, {load[1]:.2f} at the end (1-minute)",
        "",
        f"Warm search requests through `dispatch` (real ONNX model, every query new, {args.searches} "
        "requests):",
        "",
        "| catalog | p50 ms | p95 ms | process CPU ms per request |",
        "|---|---|---|---|",
        *(f"| {name} | {s['p50']:.2f} | {s['p95']:.2f} | {s['cpu']:.2f} |" for name, s in searches.items()),
        "",
        "Recording per search request: what `dispatch` adds around any handler (request id and log "
        "context, span, rate-limit check, request counter and latency histogram), plus the search's "
        f"own records (latency histogram, cache counter). Median of {args.repeats} rounds of "
        f"{args.calls:,} calls, in batches of 100 with the span batch flushed after each; CPU is the "
        "whole process's, so exporting the spans counts. The budget (under 5%) is judged against the "
        f"warm search over {reference_name}.",
        "",
        f"| backend shape | wall µs | CPU µs | share of p50, {reference_name} | share of CPU, "
        f"{reference_name} | share of p50, demo catalog | budget |",
        "|---|---|---|---|---|---|---|",
    ]
    records = results["search_records_us"]
    demo = searches["demo catalog"]
    for name, request_us in results["request_us"].items():
        wall = request_us["wall"] + records["wall"]
        cpu = request_us["cpu"] + records["cpu"]
        wall_share = wall / 1000 / reference["p50"] * 100
        cpu_share = cpu / 1000 / reference["cpu"] * 100
        demo_share = wall / 1000 / demo["p50"] * 100
        verdict = "pass" if max(wall_share, cpu_share) < 5 else "MISS"
        lines.append(
            f"| {name} | {wall:.1f} | {cpu:.1f} | {wall_share:.2f}% | {cpu_share:.2f}% | "
            f"{demo_share:.2f}% | {verdict} (< 5%) |"
        )
    lines += [
        "",
        "- **prometheus**: the default; spans are the OpenTelemetry API's no-op ones.",
        "- **otlp spans**: an SDK tracer provider batching spans to an OTLP collector on loopback, "
        "as the `otlp` and `azuremonitor` backends install (export runs on the SDK's thread, "
        "which shares these 2 CPUs).",
        f"- **Bridge pump** (push backends, every `ANALYTICS_INTERVAL_SECONDS`, off the request "
        f"path): {results['pump']['ms']:.2f} ms for {results['pump']['records']} changed series.",
    ]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/observability_bench.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--searches", type=int, default=300, help="timed search requests (default 300)")
    parser.add_argument("--tools", type=int, default=10_000, help="size of the large catalog (default 10000)")
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS, help="the benchmark datasets")
    parser.add_argument("--calls", type=int, default=2000, help="calls per timing round (default 2000)")
    parser.add_argument("--repeats", type=int, default=15, help="timing rounds (default 15)")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "RESULTS.md")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    load_start = os.getloadavg()[0]
    results = measure(args)
    markdown = render(results, args, (load_start, os.getloadavg()[0]))
    print(markdown)
    replace_section(args.out, SECTION, markdown)
    log_run("observability-bench", vars(args) | {"out": str(args.out)}, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
