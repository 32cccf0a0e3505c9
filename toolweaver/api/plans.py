"""POST plans: a request in plain words becomes a validated plan (not run)."""

from __future__ import annotations

from toolweaver.api.bodies import parse_model
from toolweaver.api.http import ApiRequest, ApiResponse, json_response
from toolweaver.api.models import PlanRequest
from toolweaver.execution import budget
from toolweaver.execution.loop import run_sync
from toolweaver.planning.ask import plan_view
from toolweaver.services import Services


def handle_plan(request: ApiRequest, services: Services) -> ApiResponse:
    body = parse_model(request, PlanRequest)
    planner = services.planner
    result = run_sync(planner.plan(body.request), budget.plan_seconds(services.settings.planner_timeout))
    return json_response(200, {"request": body.request, **plan_view(result)})
