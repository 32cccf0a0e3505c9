"""POST runs: decode, run now, encode (the ``run`` job kind for longer work is in toolweaver.app.jobs)."""

from __future__ import annotations

from typing import Any

from toolweaver.api.bodies import parse_model
from toolweaver.api.http import ApiRequest, ApiResponse, json_response
from toolweaver.api.models import HTTP_RUN_SECONDS, RunRequest
from toolweaver.errors import RequestError
from toolweaver.services import Services


def run_now(services: Services, body: RunRequest) -> dict[str, Any]:
    """The outcome as JSON. A program that fails is an outcome (status error/timeout/...), not an error."""
    return services.runs.run(
        program=body.program,
        plan=body.plan,
        request=body.request,
        timeout_s=body.timeout_s,
        max_tool_calls=body.max_tool_calls,
    )


def handle_run(request: ApiRequest, services: Services) -> ApiResponse:
    body = parse_model(request, RunRequest)
    if body.timeout_s > HTTP_RUN_SECONDS:
        raise RequestError(
            f"timeout_s {body.timeout_s:g} is over the {HTTP_RUN_SECONDS:g} s an HTTP run may take: "
            "POST /api/jobs with kind 'run' for longer work",
            status=422,
        )
    return json_response(200, run_now(services, body))
