"""POST tools/search, and the same search for a batch job."""

from __future__ import annotations

import time
from typing import Any

from toolweaver.api.bodies import job_input, parse_model
from toolweaver.api.http import ApiRequest, ApiResponse, json_response
from toolweaver.api.models import SearchJobInput, SearchRequest
from toolweaver.jobs.worker import Progress
from toolweaver.observability.metrics import SEARCH_LATENCY
from toolweaver.services import Services
from toolweaver.storage.cache import cache_key


def search_tools(services: Services, request: SearchRequest) -> dict[str, Any]:
    """Hits for one request, from the result cache when the same catalog was asked the same thing.

    The memory tier is always used. Blob Storage is asked and written only for catalogs whose
    searches cost at least SEARCH_CACHE_MIN_MS: below that, the round trip costs more than it saves.
    """
    started = time.perf_counter()
    version, engine, report = services.current_engine()
    key = cache_key(report.key, request.model_dump())
    threshold = services.settings.search_cache_min_ms
    shared = services.search_costs.get(report.key, threshold) >= threshold
    cached = services.search_cache.get(key, remote=shared)
    if cached is not None:
        SEARCH_LATENCY.labels("hit").observe(time.perf_counter() - started)
        return {**cached, "cached": True}
    computing = time.thread_time()  # CPU, not wall: under load, waiting would look like cost
    hits = engine.search(
        request.query,
        top_k=request.top_k,
        mode=request.mode,
        tags=request.tags,
        backend=request.backend,
        min_score=request.min_score,
    )
    cost_ms = (time.thread_time() - computing) * 1000
    previous = services.search_costs.get(report.key, cost_ms)
    services.search_costs[report.key] = 0.8 * previous + 0.2 * cost_ms  # recent searches weigh most
    result = {"catalog_version": version.version, "results": [hit.to_dict() for hit in hits]}
    services.search_cache.put(key, result, remote=cost_ms >= threshold)
    SEARCH_LATENCY.labels("miss").observe(time.perf_counter() - started)
    return {**result, "cached": False}


def handle_search(request: ApiRequest, services: Services) -> ApiResponse:
    body = parse_model(request, SearchRequest)
    return json_response(200, {"query": body.query, **search_tools(services, body)})


def run_search_job(services: Services, payload: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """The ``search`` job kind: every query of the batch, in order, with progress."""
    batch = job_input(SearchJobInput, payload)
    answers = []
    for done, query in enumerate(batch.queries, start=1):
        answers.append({"query": query.query, **search_tools(services, query)})
        progress(done, len(batch.queries))
    return {"searches": answers}
