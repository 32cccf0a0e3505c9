"""The app's metrics, in one prometheus_client registry of its own (not the global one).

Names are prefixed ``toolweaver_``. ``GET /api/metrics`` exposes this registry as Prometheus text;
the operations issue adds push backends (OTLP, Azure Monitor) over the same instruments.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

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
