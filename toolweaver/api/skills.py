"""GET|PUT|DELETE skills/{name} and POST skills/{name}/ratings: decode, call the use case, encode."""

from __future__ import annotations

from toolweaver.api.bodies import parse_model
from toolweaver.api.http import ApiRequest, ApiResponse, json_response
from toolweaver.api.models import RatingBody, SkillBody
from toolweaver.api.tools import path_name
from toolweaver.catalog.store import tool_etag
from toolweaver.services import Services
from toolweaver.skills import skill_view


def get_skill(request: ApiRequest, services: Services) -> ApiResponse:
    tool, view = services.catalog_changes.skill(path_name(request))
    return json_response(200, view, {"ETag": tool_etag(tool)})


def rate_skill(request: ApiRequest, services: Services) -> ApiResponse:
    """One rating, 1 to 5; answers with the skill's new health."""
    name = path_name(request)
    body = parse_model(request, RatingBody)
    health = services.catalog_changes.rate_skill(name, body.rating)
    return json_response(201, {"skill": name, "rating": body.rating, "health": health})


def put_skill(request: ApiRequest, services: Services) -> ApiResponse:
    name = path_name(request)
    body = parse_model(request, SkillBody)
    tool, version, created = services.catalog_changes.put_skill(
        name,
        description=body.description,
        code=body.code,
        parameters=body.parameters,
        tags=body.tags,
        if_match=request.header("if-match"),
    )
    headers = {"ETag": tool_etag(tool), "X-Catalog-Version": str(version.version)}
    if created:
        headers["Location"] = f"/api/skills/{name}"
    return json_response(201 if created else 200, skill_view(tool), headers)


def delete_skill(request: ApiRequest, services: Services) -> ApiResponse:
    version = services.catalog_changes.delete_skill(path_name(request), if_match=request.header("if-match"))
    return ApiResponse(204, headers={"X-Catalog-Version": str(version.version)})
