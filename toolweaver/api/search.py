"""POST tools/search, and the same search for a batch job."""

from __future__ import annotations

from typing import Any

from toolweaver.api.bodies import job_input, parse_model
from toolweaver.api.http import ApiRequest, ApiResponse, json_response
from toolweaver.api.models import SearchJobInput, SearchRequest
from toolweaver.app.search import SearchQuery
from toolweaver.jobs.worker import Progress
from toolweaver.services import Services


def query_of(request: SearchRequest) -> SearchQuery:
    return SearchQuery(**request.model_dump())


def handle_search(request: ApiRequest, services: Services) -> ApiResponse:
    body = parse_model(request, SearchRequest)
    return json_response(200, {"query": body.query, **services.tool_search.search(query_of(body))})


def run_search_job(services: Services, payload: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """The ``search`` job kind: every query of the batch, in order, with progress."""
    batch = job_input(SearchJobInput, payload)
    answers = []
    for done, query in enumerate(batch.queries, start=1):
        answers.append({"query": query.query, **services.tool_search.search(query_of(query))})
        progress(done, len(batch.queries))
    return {"searches": answers}
