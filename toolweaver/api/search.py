"""POST tools/search: decode, search, encode (the batch job kind is in toolweaver.app.jobs)."""

from __future__ import annotations

from toolweaver.api.bodies import parse_model
from toolweaver.api.http import ApiRequest, ApiResponse, json_response
from toolweaver.api.models import SearchRequest
from toolweaver.app.search import SearchQuery
from toolweaver.services import Services


def query_of(request: SearchRequest) -> SearchQuery:
    return SearchQuery(**request.model_dump())


def handle_search(request: ApiRequest, services: Services) -> ApiResponse:
    body = parse_model(request, SearchRequest)
    return json_response(200, {"query": body.query, **services.tool_search.search(query_of(body))})
