"""Tool definitions in the shapes LLM APIs and MCP servers use.

Every export deep-copies the schemas, so callers may edit the result (add ``strict``, say) safely.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any

from toolweaver.catalog.model import Catalog, Tool, empty_parameters
from toolweaver.errors import CatalogError, ToolValidationError


def to_openai(tool: Tool) -> dict[str, Any]:
    """OpenAI Chat Completions function-calling entry."""
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": copy.deepcopy(tool.parameters),
        },
    }


def to_anthropic(tool: Tool) -> dict[str, Any]:
    """Anthropic Messages API tool entry."""
    return {
        "name": tool.name,
        "description": tool.description,
        "input_schema": copy.deepcopy(tool.parameters),
    }


def to_mcp(tool: Tool) -> dict[str, Any]:
    """MCP ``tools/list`` entry; ``outputSchema`` only when ``returns`` is an object schema, per MCP."""
    entry: dict[str, Any] = {"name": tool.name}
    if tool.title is not None:
        entry["title"] = tool.title
    entry["description"] = tool.description
    entry["inputSchema"] = copy.deepcopy(tool.parameters)
    if tool.returns is not None and tool.returns.get("type") == "object":
        entry["outputSchema"] = copy.deepcopy(tool.returns)
    return entry


def from_mcp(entry: Mapping[str, Any]) -> Tool:
    """A Tool (backend "mcp") from one MCP ``tools/list`` entry.

    MCP makes ``description`` optional; we need one, so the title or the name stands in.
    ``annotations`` (readOnlyHint, ...) are kept in ``backend_config`` for planners.
    """
    if not isinstance(entry, Mapping):
        raise ToolValidationError(
            "?", "<tool>", f"an MCP tool entry must be an object, got {type(entry).__name__}"
        )
    name = entry.get("name")
    title = entry.get("title")
    description = entry.get("description")
    if not isinstance(description, str) or not description.strip():
        description = title if isinstance(title, str) and title.strip() else name
    annotations = _copied(entry.get("annotations"))
    return Tool(
        name=name,  # type: ignore[arg-type]  # Tool validates it
        description=description,  # type: ignore[arg-type]
        parameters=_copied(entry.get("inputSchema")) or empty_parameters(),
        returns=_copied(entry.get("outputSchema")),
        backend="mcp",
        title=title if isinstance(title, str) else None,
        backend_config={"annotations": annotations} if annotations is not None else {},
    )


def _copied(value: Any) -> dict[str, Any] | None:
    return copy.deepcopy(dict(value)) if isinstance(value, Mapping) else None


def from_mcp_list(result: Mapping[str, Any]) -> list[Tool]:
    """Tools from a ``tools/list`` result (``{"tools": [...]}``; a whole JSON-RPC response works too)."""
    if isinstance(result, Mapping) and isinstance(result.get("result"), Mapping):
        result = result["result"]
    entries = result.get("tools") if isinstance(result, Mapping) else None
    if not isinstance(entries, list):
        raise CatalogError('expected an MCP tools/list result like {"tools": [...]}')
    tools: list[Tool] = []
    for i, entry in enumerate(entries):
        try:
            tools.append(from_mcp(entry))
        except ToolValidationError as exc:
            raise CatalogError(f"tools[{i}]: {exc}") from exc
    return tools


_EXPORTERS: dict[str, Callable[[Tool], dict[str, Any]]] = {
    "openai": to_openai,
    "anthropic": to_anthropic,
    "mcp": to_mcp,
}
EXPORT_FORMATS: tuple[str, ...] = tuple(_EXPORTERS)


def export_catalog(catalog: Catalog, fmt: str) -> list[dict[str, Any]]:
    """Every tool of ``catalog`` in one of EXPORT_FORMATS, in catalog order."""
    exporter = _EXPORTERS.get(fmt)
    if exporter is None:
        raise CatalogError(f"unknown export format {fmt!r}; use one of {', '.join(EXPORT_FORMATS)}")
    return [exporter(tool) for tool in catalog]
