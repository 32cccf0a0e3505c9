"""The route table: every HTTP function, its methods, handler, body and documented answers.

``toolweaver.functions.http`` registers one Azure Function per route from this table, and
``toolweaver.api.openapi`` documents the same table, so code and document cannot disagree.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from opentelemetry.trace import SpanKind
from pydantic import BaseModel

from toolweaver.api import jobs, openapi, plans, runs, search, skills, system, tools
from toolweaver.api.auth import operator_refusal
from toolweaver.api.http import ApiRequest, ApiResponse, json_response, problem
from toolweaver.api.limits import caller_of
from toolweaver.api.models import (
    JobRequest,
    PlanRequest,
    RatingBody,
    RunRequest,
    SearchRequest,
    SkillBody,
    ToolBody,
)
from toolweaver.api.problems import from_exception
from toolweaver.mcp import http as mcp_http
from toolweaver.observability import logs, tracing
from toolweaver.observability.metrics import count_request
from toolweaver.services import Services

log = logging.getLogger(__name__)

Handler = Callable[[ApiRequest, Services], ApiResponse]


@dataclass(frozen=True)
class Operation:
    handler: Handler
    summary: str
    responses: Mapping[int, str]
    body: type[BaseModel] | None = None
    body_types: tuple[str, ...] = ("application/json",)
    query: Mapping[str, str] = field(default_factory=dict)  # name -> description
    response_type: str = "application/json"
    large_body: bool = False  # capped by MAX_BODY_BYTES (imports) instead of MAX_REQUEST_BYTES
    operator: bool = False  # changes what the app will call: needs the operator credential


@dataclass(frozen=True)
class Route:
    function_name: str
    path: str  # relative to /api, in Functions route syntax
    operations: Mapping[str, Operation]
    anonymous: bool = False
    tag: str = "tools"

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(self.operations)

    def functions(self) -> tuple[tuple[str, tuple[str, ...], bool], ...]:
        """``(function name, methods, operator)`` per Azure Function: a Function has one auth level,
        so a route's operator methods get a function of their own (``<name>_admin``)."""
        groups = []
        for operator in (False, True):
            methods = tuple(m for m, op in self.operations.items() if op.operator is operator)
            if methods:
                groups.append((operator, methods))
        suffix = len(groups) > 1
        return tuple(
            (self.function_name + ("_admin" if operator and suffix else ""), methods, operator)
            for operator, methods in groups
        )


def _openapi_json(request: ApiRequest, services: Services) -> ApiResponse:
    return json_response(200, openapi_document())


_FOUND = {200: "OK", 404: "no such tool"}
ROUTES: tuple[Route, ...] = (
    Route(
        "health",
        "health",
        {"GET": Operation(system.health, "Service health", {200: "healthy", 503: "a dependency is down"})},
        anonymous=True,
        tag="operations",
    ),
    Route(
        "metrics",
        "metrics",
        {
            "GET": Operation(
                system.metrics_text, "Prometheus metrics", {200: "OK"}, response_type="text/plain"
            )
        },
        tag="operations",
    ),
    Route(
        "openapi",
        "openapi.json",
        {"GET": Operation(_openapi_json, "This document", {200: "OK"})},
        tag="operations",
    ),
    Route(
        "tools_list",
        "tools",
        {
            "GET": Operation(
                tools.list_tools,
                "List tools, a page at a time",
                {200: "OK"},
                query={
                    "tag": "only tools with this tag",
                    "backend": "only this backend",
                    "limit": "page size 1-1000",
                    "offset": "first tool of the page",
                },
            )
        },
    ),
    Route(
        "tools_search",
        "tools/search",
        {
            "POST": Operation(
                search.handle_search,
                "Find the tools for a request",
                {200: "hits, best first"},
                body=SearchRequest,
            )
        },
    ),
    Route(
        "tools_import",
        "tools/import",
        {
            "POST": Operation(
                tools.import_tools,
                "Import a catalog document or an OpenAPI 3 document (operator)",
                {200: "imported", 403: "needs the operator credential"},
                body_types=("application/json", "application/yaml"),
                query={
                    "replace": "true replaces the whole catalog",
                    "server_url": "base URL for OpenAPI tools",
                },
                large_body=True,
                operator=True,
            )
        },
    ),
    Route(
        "tools_item",
        "tools/{name}",
        {
            "GET": Operation(tools.get_tool, "One tool", _FOUND),
            "PUT": Operation(
                tools.put_tool,
                "Add or replace a tool (operator)",
                {200: "replaced", 201: "created", 403: "needs the operator credential"},
                body=ToolBody,
                operator=True,
            ),
            "DELETE": Operation(
                tools.delete_tool,
                "Remove a tool (operator)",
                {204: "deleted", 403: "needs the operator credential", 404: "no such tool"},
                operator=True,
            ),
        },
    ),
    Route(
        "plans",
        "plans",
        {
            "POST": Operation(
                plans.handle_plan,
                "Plan a request with the language model (not run)",
                {
                    200: "a validated plan",
                    422: "no valid plan after one repair",
                    503: "no model configured",
                    504: "the model did not answer within the HTTP time budget",
                },
                body=PlanRequest,
            )
        },
        tag="runs",
    ),
    Route(
        "runs",
        "runs",
        {
            "POST": Operation(
                runs.handle_run,
                "Run a program in the sandbox, or a plan, now",
                {
                    200: "the run's outcome, whatever its status",
                    422: "invalid program or plan",
                    503: "a request needs a language model and none is configured",
                    504: "not finished within the HTTP time budget: queue it as a job",
                },
                body=RunRequest,
            )
        },
        tag="runs",
    ),
    Route(
        "skills_item",
        "skills/{name}",
        {
            "GET": Operation(skills.get_skill, "One skill with its code", {200: "OK", 404: "no such skill"}),
            "PUT": Operation(
                skills.put_skill,
                "Save a program as a skill (operator)",
                {200: "new version", 201: "created", 403: "needs the operator credential"},
                body=SkillBody,
                operator=True,
            ),
            "DELETE": Operation(
                skills.delete_skill,
                "Remove a skill (operator)",
                {204: "deleted", 403: "needs the operator credential", 404: "no such skill"},
                operator=True,
            ),
        },
        tag="skills",
    ),
    Route(
        "skills_ratings",
        "skills/{name}/ratings",
        {
            "POST": Operation(
                skills.rate_skill,
                "Rate a skill 1 to 5; answers with its health score",
                {201: "rated", 404: "no such skill"},
                body=RatingBody,
            )
        },
        tag="skills",
    ),
    Route(
        "mcp",
        "mcp",
        {
            "POST": Operation(
                mcp_http.handle_post,
                "MCP over streamable HTTP (stateless, JSON responses): the catalog behind meta-tools",
                {
                    200: "a JSON-RPC response",
                    202: "a notification, accepted",
                    400: "not a valid MCP request (a JSON-RPC error)",
                    403: "an Origin that MCP_ALLOWED_ORIGINS does not list",
                },
            ),
            "GET": Operation(mcp_http.handle_get, "No event stream is offered", {405: "use POST"}),
        },
        tag="mcp",
    ),
    Route(
        "mcp_protected_resource",
        ".well-known/oauth-protected-resource",
        {
            "GET": Operation(
                mcp_http.protected_resource,
                "OAuth protected-resource metadata of /api/mcp (RFC 9728), when Entra ID is configured",
                {200: "the metadata", 404: "no Entra ID sign-in is configured"},
            )
        },
        anonymous=True,  # discovery precedes sign-in
        tag="mcp",
    ),
    Route(
        "jobs_create",
        "jobs",
        {"POST": Operation(jobs.create_job, "Queue a job", {202: "queued"}, body=JobRequest)},
        tag="jobs",
    ),
    Route(
        "jobs_item",
        "jobs/{id}",
        {"GET": Operation(jobs.get_job, "A job's status and result", {200: "OK", 404: "no such job"})},
        tag="jobs",
    ),
)


@functools.cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of ROUTES, built once."""
    return openapi.document(ROUTES)


def dispatch(route: Route, request: ApiRequest, services: Services) -> ApiResponse:
    """Answer one request: limits, then the route's handler; every error becomes problem+json.

    Each request gets an id (the caller's X-Request-Id when it is a plain token), sent back as
    X-Request-Id and carried by its log lines and its span, and is counted and timed.
    """
    started = time.perf_counter()
    request_id = logs.request_id_from(request.header("x-request-id"))
    method = request.method.upper()
    with (
        logs.bound(logs.REQUEST_ID, request_id),
        tracing.span(
            f"{method} /api/{route.path}",
            kind=SpanKind.SERVER,
            attributes={
                "http.request.method": method,
                "http.route": f"/api/{route.path}",
                "toolweaver.request_id": request_id,
            },
            parent=request.headers,
        ) as span,
    ):
        response = _answer(route, request, services)
        if span.is_recording():
            span.set_attribute("http.response.status_code", response.status)
            if response.status >= 500:
                tracing.mark_error(span, HTTPStatus(response.status).phrase)
    count_request(route.path, method, response.status, time.perf_counter() - started)
    headers = {**response.headers, "X-Request-Id": request_id}
    return ApiResponse(response.status, response.body, response.content_type, headers)


def _answer(route: Route, request: ApiRequest, services: Services) -> ApiResponse:
    operation = route.operations.get(request.method.upper())
    if operation is None:
        return problem(
            405,
            f"{request.method} is not allowed here; use {', '.join(route.methods)}",
            headers={"Allow": ", ".join(route.methods)},
        )
    if not route.anonymous:  # health stays open to probes
        refusal = services.rate_limiter.admit(caller_of(request))
        if refusal is not None:
            return problem(
                429,
                f"more than {refusal.limit} requests this {refusal.window} from this caller; "
                f"retry in {refusal.retry_after} s",
                headers={"Retry-After": str(refusal.retry_after)},
                limit=refusal.limit,
                window=refusal.window,
            )
    settings = services.settings
    if operation.operator:
        forbidden = operator_refusal(request, mode=settings.operator_auth, role=settings.operator_role)
        if forbidden is not None:
            return forbidden
    cap, setting = (
        (settings.max_body_bytes, "MAX_BODY_BYTES")
        if operation.large_body
        else (settings.max_request_bytes, "MAX_REQUEST_BYTES")
    )
    if len(request.body) > cap:
        return problem(413, f"the body has {len(request.body)} bytes; the limit here is {cap} ({setting})")
    try:
        return operation.handler(request, services)
    except Exception as exc:  # the edge: every failure becomes a problem response
        return from_exception(exc)
