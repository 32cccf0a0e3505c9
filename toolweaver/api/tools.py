"""The catalog over HTTP: list, get, put, delete and import tools."""

from __future__ import annotations

from typing import Any

from toolweaver.api.bodies import parse_document, parse_model, query_bool, query_int
from toolweaver.api.http import ApiRequest, ApiResponse, json_response
from toolweaver.api.models import ToolBody
from toolweaver.app.catalog import find_tool
from toolweaver.catalog.model import NAME_PATTERN, Tool
from toolweaver.catalog.store import tool_etag
from toolweaver.errors import RequestError, ToolNotFoundError
from toolweaver.services import Services

MAX_PAGE = 1000


def path_name(request: ApiRequest) -> str:
    name = request.route_params.get("name", "")
    if not NAME_PATTERN.match(name):
        raise ToolNotFoundError(f"no tool named {name[:80]!r}: names use letters, digits, '_', '.' and '-'")
    return name


def list_tools(request: ApiRequest, services: Services) -> ApiResponse:
    version = services.catalog.current()
    limit = query_int(request, "limit", 100, 1, MAX_PAGE)
    offset = query_int(request, "offset", 0, 0, 10_000_000)
    tag, backend = request.query.get("tag"), request.query.get("backend")
    catalog = version.catalog.filter(tags=[tag] if tag else None, backend=backend or None)
    page = catalog.tools[offset : offset + limit]
    body: dict[str, Any] = {
        "version": version.version,
        "total": len(catalog),
        "offset": offset,
        "tools": [tool.to_dict() for tool in page],
        "next_offset": offset + limit if offset + limit < len(catalog) else None,
    }
    return json_response(200, body)


def get_tool(request: ApiRequest, services: Services) -> ApiResponse:
    tool = find_tool(services.catalog, path_name(request))
    return json_response(200, tool.to_dict(), {"ETag": tool_etag(tool)})


def put_tool(request: ApiRequest, services: Services) -> ApiResponse:
    name = path_name(request)
    body = parse_model(request, ToolBody)
    if body.name is not None and body.name != name:
        raise RequestError(f"the body names tool {body.name!r} but the path names {name!r}", status=422)
    tool = Tool.from_dict({**body.model_dump(exclude_none=True), "name": name})
    version, created = services.catalog_changes.put_tool(tool, if_match=request.header("if-match"))
    headers = {"ETag": tool_etag(tool), "X-Catalog-Version": str(version.version)}
    if created:
        headers["Location"] = f"/api/tools/{name}"
    return json_response(201 if created else 200, tool.to_dict(), headers)


def delete_tool(request: ApiRequest, services: Services) -> ApiResponse:
    version = services.catalog_changes.delete_tool(path_name(request), if_match=request.header("if-match"))
    return ApiResponse(204, headers={"X-Catalog-Version": str(version.version)})


def import_tools(request: ApiRequest, services: Services) -> ApiResponse:
    """Our catalog format, or an OpenAPI 3 document (one tool per operation)."""
    document = parse_document(request)
    imported = services.catalog_changes.import_document(
        document, replace=query_bool(request, "replace"), server_url=request.query.get("server_url") or None
    )
    body = {
        "imported": len(imported.tools),
        "format": imported.format,
        "names": [t.name for t in imported.tools],
        "version": imported.version.version,
    }
    return json_response(200, body, {"X-Catalog-Version": str(imported.version.version)})
