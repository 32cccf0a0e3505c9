"""GET|PUT|DELETE skills/{name}: programs saved for reuse, stored in the catalog; and their ratings."""

from __future__ import annotations

from typing import Any

from toolweaver.api.bodies import parse_model
from toolweaver.api.http import ApiRequest, ApiResponse, json_response
from toolweaver.api.models import RatingBody, SkillBody
from toolweaver.api.tools import find_tool, path_name
from toolweaver.catalog.store import tool_etag
from toolweaver.errors import ToolNotFoundError
from toolweaver.observability.metrics import SKILL_HEALTH, SKILL_RATINGS
from toolweaver.services import Services
from toolweaver.skill_health import SkillStats
from toolweaver.skills import skill_tool, skill_view


def get_skill(request: ApiRequest, services: Services) -> ApiResponse:
    tool = find_tool(services, path_name(request))
    view = skill_view(tool)
    view["health"] = _health(services, tool.name, services.skill_stats.get(tool.name))
    return json_response(200, view, {"ETag": tool_etag(tool)})


def rate_skill(request: ApiRequest, services: Services) -> ApiResponse:
    """POST skills/{name}/ratings: one rating, 1 to 5; answers with the skill's new health."""
    name = path_name(request)
    body = parse_model(request, RatingBody)
    skill_view(find_tool(services, name))  # 404 unless it is a skill
    stats = services.skill_stats.rate(name, body.rating)
    SKILL_RATINGS.labels(name, str(body.rating)).inc()
    return json_response(
        201, {"skill": name, "rating": body.rating, "health": _health(services, name, stats)}
    )


def _health(services: Services, name: str, stats: SkillStats) -> dict[str, Any]:
    health = stats.health(services.skill_stats.clock())
    SKILL_HEALTH.labels(name).set(health["score"])
    return health


def put_skill(request: ApiRequest, services: Services) -> ApiResponse:
    name = path_name(request)
    body = parse_model(request, SkillBody)
    services.check_program(body.code)
    previous = services.catalog.current().catalog.find(name)
    if previous is not None and previous.backend != "skill":
        raise ToolNotFoundError(f"{name!r} is a tool, not a skill: choose another name")
    tool = skill_tool(
        name,
        description=body.description,
        code=body.code,
        parameters=body.parameters,
        tags=body.tags,
        previous=previous,
    )
    version, created = services.catalog.put_tool(tool, if_match=request.header("if-match"))
    headers = {"ETag": tool_etag(tool), "X-Catalog-Version": str(version.version)}
    if created:
        headers["Location"] = f"/api/skills/{name}"
    return json_response(201 if created else 200, skill_view(tool), headers)


def delete_skill(request: ApiRequest, services: Services) -> ApiResponse:
    name = path_name(request)
    skill_view(find_tool(services, name))  # 404 unless it is a skill
    version = services.catalog.delete_tool(name, if_match=request.header("if-match"))
    services.skill_stats.delete(name)  # a new skill of the same name starts afresh
    return ApiResponse(204, headers={"X-Catalog-Version": str(version.version)})
