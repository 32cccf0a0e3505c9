"""GET health and metrics (openapi.json is served by the route table it documents: routes.py)."""

from __future__ import annotations

import time
from typing import Any

from toolweaver import __version__
from toolweaver.api.http import ApiRequest, ApiResponse, json_response
from toolweaver.errors import StorageError
from toolweaver.observability import metrics
from toolweaver.services import Services


def health(request: ApiRequest, services: Services) -> ApiResponse:
    """200 when storage answers, 503 naming what is down. Never builds the model or the index."""
    storage: dict[str, Any] = {"reachable": True}
    started = time.perf_counter()
    try:
        services.cache_store.exists("health/probe")
    except StorageError as exc:
        storage = {"reachable": False, "error": str(exc)}
    storage["latency_ms"] = round((time.perf_counter() - started) * 1000, 1)
    healthy = storage["reachable"]
    body: dict[str, Any] = {
        "status": "healthy" if healthy else "unhealthy",
        "version": __version__,
        "uptime_seconds": round(services.uptime, 1),
        "model_loaded": services.model_loaded,
        "index_loaded": services.index_loaded,
        "storage": storage,
        "sandbox": services.sandbox_health,
        "caches": metrics.cache_totals(),
        "metrics": metrics.health_summary(),
        "analytics": services.settings.analytics_backend,
    }
    if not healthy:
        body["down"] = ["storage"]
    return json_response(200 if healthy else 503, body, {"Cache-Control": "no-store"})


def metrics_text(request: ApiRequest, services: Services) -> ApiResponse:
    return ApiResponse(200, metrics.exposition(), metrics.CONTENT_TYPE)
