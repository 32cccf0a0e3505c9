"""The catalog over HTTP: list, get, put, delete and import tools."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from toolweaver.api.bodies import parse_document, parse_model, query_bool, query_int
from toolweaver.api.http import ApiRequest, ApiResponse, json_response
from toolweaver.api.models import ToolBody
from toolweaver.catalog.loaders import catalog_from_document
from toolweaver.catalog.model import NAME_PATTERN, Tool
from toolweaver.catalog.openapi import import_openapi
from toolweaver.catalog.store import tool_etag
from toolweaver.errors import CatalogError, RequestError, ToolNotFoundError
from toolweaver.services import Services

MAX_PAGE = 1000


def path_name(request: ApiRequest) -> str:
    name = request.route_params.get("name", "")
    if not NAME_PATTERN.match(name):
        raise ToolNotFoundError(f"no tool named {name[:80]!r}: names use letters, digits, '_', '.' and '-'")
    return name


def find_tool(services: Services, name: str) -> Tool:
    """The tool, or a 404 whose hint speaks HTTP rather than Python."""
    catalog = services.catalog.current().catalog
    tool = catalog.find(name)
    if tool is None:
        close = catalog.close_names(name, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "GET /api/tools lists them"
        raise ToolNotFoundError(f"no tool named {name!r} ({len(catalog)} tools); {hint}")
    return tool


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
    tool = find_tool(services, path_name(request))
    return json_response(200, tool.to_dict(), {"ETag": tool_etag(tool)})


def put_tool(request: ApiRequest, services: Services) -> ApiResponse:
    name = path_name(request)
    body = parse_model(request, ToolBody)
    if body.name is not None and body.name != name:
        raise RequestError(f"the body names tool {body.name!r} but the path names {name!r}", status=422)
    tool = Tool.from_dict({**body.model_dump(exclude_none=True), "name": name})
    services.trust.check(tool)  # 422 naming the field when the operator's policy forbids it
    version, created = services.catalog.put_tool(tool, if_match=request.header("if-match"))
    headers = {"ETag": tool_etag(tool), "X-Catalog-Version": str(version.version)}
    if created:
        headers["Location"] = f"/api/tools/{name}"
    return json_response(201 if created else 200, tool.to_dict(), headers)


def delete_tool(request: ApiRequest, services: Services) -> ApiResponse:
    version = services.catalog.delete_tool(path_name(request), if_match=request.header("if-match"))
    return ApiResponse(204, headers={"X-Catalog-Version": str(version.version)})


def import_tools(request: ApiRequest, services: Services) -> ApiResponse:
    """Our catalog format, or an OpenAPI 3 document (one tool per operation)."""
    document = parse_document(request)
    replace = query_bool(request, "replace")
    if isinstance(document, Mapping) and "openapi" in document:
        server_url = request.query.get("server_url") or None
        tools = import_openapi(document, server_url=server_url)
        source = "openapi"
    else:
        tools = list(catalog_from_document("request body", document))
        source = "catalog"
    if not tools and not replace:
        raise CatalogError("the document holds no tools")
    for tool in tools:
        services.trust.check(tool)
    version = services.catalog.import_tools(tools, replace=replace)
    body = {
        "imported": len(tools),
        "format": source,
        "names": [t.name for t in tools],
        "version": version.version,
    }
    return json_response(200, body, {"X-Catalog-Version": str(version.version)})
