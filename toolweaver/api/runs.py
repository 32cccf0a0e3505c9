"""POST runs: a program or a plan, run now; and the ``run`` job kind for longer work."""

from __future__ import annotations

from typing import Any

from toolweaver.api.bodies import job_input, parse_model
from toolweaver.api.http import ApiRequest, ApiResponse, json_response
from toolweaver.api.models import HTTP_RUN_SECONDS, AskInput, RunRequest
from toolweaver.errors import RequestError
from toolweaver.jobs.worker import Progress
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


def ask_job(services: Services, payload: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """The ``ask`` job kind."""
    body = job_input(AskInput, payload)
    result = services.runs.ask(body.request, timeout_s=body.timeout_s)
    progress(1, 1)
    return result


def handle_run(request: ApiRequest, services: Services) -> ApiResponse:
    body = parse_model(request, RunRequest)
    if body.timeout_s > HTTP_RUN_SECONDS:
        raise RequestError(
            f"timeout_s {body.timeout_s:g} is over the {HTTP_RUN_SECONDS:g} s an HTTP run may take: "
            "POST /api/jobs with kind 'run' for longer work",
            status=422,
        )
    return json_response(200, run_now(services, body))


def run_job(services: Services, payload: dict[str, Any], progress: Progress) -> dict[str, Any]:
    """The ``run`` job kind: the run's outcome, whatever its status, is the job's result."""
    body = job_input(RunRequest, payload)
    result = run_now(services, body)
    progress(1, 1)
    return result
