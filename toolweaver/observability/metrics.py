"""The app's metrics, in one prometheus_client registry of its own (not the global one).

Names are prefixed ``toolweaver_``. ``GET /api/metrics`` exposes this registry as Prometheus text;
the operations issue adds push backends (OTLP, Azure Monitor) over the same instruments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

if TYPE_CHECKING:
    from toolweaver.search.index import BuildStats

REGISTRY = CollectorRegistry(auto_describe=True)

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

CACHE_LOOKUPS = Counter(
    "toolweaver_cache_lookups",
    "Cache lookups by cache and result (hit, miss, expired).",
    ["cache", "result"],
    registry=REGISTRY,
)
HTTP_REQUESTS = Counter(
    "toolweaver_http_requests",
    "HTTP requests answered, by route template, method and status code.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "toolweaver_http_request_seconds",
    "Time to answer an HTTP request, by route template.",
    ["route"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
SEARCH_LATENCY = Histogram(
    "toolweaver_search_seconds",
    "Time to answer one search, cache hits included, by cache result.",
    ["cache"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
JOBS = Counter(
    "toolweaver_jobs",
    "Jobs by kind and event (queued, running, succeeded, failed, duplicate).",
    ["kind", "event"],
    registry=REGISTRY,
)
JOB_AGE = Histogram(
    "toolweaver_job_age_seconds",
    "Time from a job's creation to its end (succeeded or failed), queueing included, by kind.",
    ["kind", "status"],
    buckets=(0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0),
    registry=REGISTRY,
)
TOOL_CALLS = Counter(
    "toolweaver_tool_calls",
    "Tool calls by tool, backend and outcome (ok, or the ToolCallError kind: timeout, limit, ...).",
    ["tool", "backend", "outcome"],
    registry=REGISTRY,
)
TOOL_LATENCY = Histogram(
    "toolweaver_tool_call_seconds",
    "Time one tool call took, failed ones included, by backend.",
    ["backend"],
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
SANDBOX_RUNS = Counter(
    "toolweaver_sandbox_runs",
    "Programs run in the sandbox, by outcome (succeeded, error, timeout, killed, rejected).",
    ["status"],
    registry=REGISTRY,
)
SANDBOX_LATENCY = Histogram(
    "toolweaver_sandbox_run_seconds",
    "Time from a program's submission to its outcome.",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
SKILL_RUNS = Counter(
    "toolweaver_skill_runs",
    "Skill executions by skill and outcome.",
    ["skill", "status"],
    registry=REGISTRY,
)
SKILL_LATENCY = Histogram(
    "toolweaver_skill_run_seconds",
    "Time one skill execution took, failed ones included.",
    buckets=_LATENCY_BUCKETS,
    registry=REGISTRY,
)
SKILL_RATINGS = Counter(
    "toolweaver_skill_ratings",
    "Ratings given to skills (POST /api/skills/{name}/ratings), by skill and rating (1 to 5).",
    ["skill", "rating"],
    registry=REGISTRY,
)
SKILL_HEALTH = Gauge(
    "toolweaver_skill_health_score",
    "A skill's health score, 0 to 1 (README: success rate, rating, recent use and latency), "
    "as last computed on this instance.",
    ["skill"],
    registry=REGISTRY,
)
INDEX_BUILDS = Counter(
    "toolweaver_index_builds",
    "Search indexes built or refreshed (tools embedded > 0), by what was built: full or incremental.",
    ["kind"],
    registry=REGISTRY,
)
INDEX_BUILD_SECONDS = Histogram(
    "toolweaver_index_build_seconds",
    "Time to build or refresh one search index, embedding included.",
    buckets=(0.05, 0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0),
    registry=REGISTRY,
)
INDEX_TOOLS_EMBEDDED = Counter(
    "toolweaver_index_tools_embedded",
    "Tool texts run through the embedding model by index builds (unchanged tools are reused).",
    registry=REGISTRY,
)

# A model call takes seconds, not milliseconds: the planner's latency needs buckets of its own.
_MODEL_LATENCY_BUCKETS = (0.005, 0.05, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0)
PLAN_TOKENS = Counter(
    "toolweaver_planner_tokens",
    "Language model tokens the planner used (plans and answers), by kind: prompt, completion, and "
    "cached (the part of prompt the provider's prompt cache served).",
    ["kind"],
    registry=REGISTRY,
)
PLANS = Counter(
    "toolweaver_plans",
    "Plan requests by outcome (planned, repaired: valid after the repair round, failed, cache_hit).",
    ["outcome"],
    registry=REGISTRY,
)
PLAN_REPAIRS = Counter(
    "toolweaver_plan_repair_rounds",
    "Repair rounds: a plan the model gave was invalid and was sent back once with its problems.",
    registry=REGISTRY,
)
PLAN_LATENCY = Histogram(
    "toolweaver_plan_seconds",
    "Time to answer one plan request, model calls included, by outcome.",
    ["outcome"],
    buckets=_MODEL_LATENCY_BUCKETS,
    registry=REGISTRY,
)

CONTENT_TYPE = CONTENT_TYPE_LATEST


def exposition() -> bytes:
    """The registry as Prometheus text format."""
    return generate_latest(REGISTRY)


_request_series: dict[tuple[str, str, int], tuple[Any, Any]] = {}


def count_request(route: str, method: str, status: int, seconds: float) -> None:
    """One answered HTTP request. The labelled series are looked up once and kept: labels() on
    every request costs more than the increment itself."""
    series = _request_series.get((route, method, status))
    if series is None:
        series = (HTTP_REQUESTS.labels(route, method, str(status)), HTTP_LATENCY.labels(route))
        _request_series[(route, method, status)] = series
    series[0].inc()
    series[1].observe(seconds)


def record_build(stats: BuildStats, seconds: float) -> None:
    """One index build: full when nothing was reused."""
    INDEX_BUILDS.labels("full" if stats.reused == 0 else "incremental").inc()
    INDEX_BUILD_SECONDS.observe(seconds)
    INDEX_TOOLS_EMBEDDED.inc(stats.embedded)


# Labels that name one route, tool or skill: a summary adds them up instead of listing each.
_SUMMED_LABELS = frozenset({"route", "method", "tool", "skill", "backend"})


def counter_totals() -> dict[str, dict[str, float]]:
    """Every counter's total, per value of its low-cardinality labels ("all" when it has none).

    ``{"http_requests": {"200": 12, "404": 1}, "cache_lookups": {"search.hit": 3}, ...}``
    """
    totals: dict[str, dict[str, float]] = {}
    for metric in REGISTRY.collect():
        if metric.type != "counter":
            continue
        name = metric.name.removeprefix("toolweaver_")
        for sample in metric.samples:
            if not sample.name.endswith("_total"):
                continue
            key = ".".join(v for k, v in sample.labels.items() if k not in _SUMMED_LABELS) or "all"
            group = totals.setdefault(name, {})
            group[key] = group.get(key, 0.0) + sample.value
    return totals


def health_summary() -> dict[str, int]:
    """A few figures for GET /api/health: requests, server errors, searches, tool calls, jobs."""
    totals = counter_totals()
    statuses = totals.get("http_requests", {})
    jobs = totals.get("jobs", {})
    return {
        "requests": int(sum(statuses.values())),
        "server_errors": int(sum(v for k, v in statuses.items() if k.startswith("5"))),
        "throttled": int(statuses.get("429", 0)),
        "tool_calls": int(sum(totals.get("tool_calls", {}).values())),
        "jobs_queued": int(jobs.get("queued", 0)),
        "jobs_failed": int(jobs.get("failed", 0)),
    }


def cache_totals() -> dict[str, dict[str, int]]:
    """Hit/miss counts per cache, for the health summary."""
    totals: dict[str, dict[str, int]] = {}
    for metric in REGISTRY.collect():
        if metric.name != "toolweaver_cache_lookups":
            continue
        for sample in metric.samples:
            if sample.name.endswith("_total"):
                labels = sample.labels
                totals.setdefault(labels["cache"], {})[labels["result"]] = int(sample.value)
    return totals
