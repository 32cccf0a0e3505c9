"""Exports to OpenAI / Anthropic / MCP shapes and imports from MCP tools/list."""

from __future__ import annotations

import json
from typing import Any

import pytest

from toolweaver.catalog import Catalog, Tool
from toolweaver.catalog.formats import (
    EXPORT_FORMATS,
    export_catalog,
    from_mcp,
    from_mcp_list,
    to_anthropic,
    to_mcp,
    to_openai,
)
from toolweaver.errors import CatalogError, ToolValidationError

PARAMS: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
    "required": ["city"],
}
RETURNS: dict[str, Any] = {"type": "object", "properties": {"temp": {"type": "number"}}}


def weather(**overrides: Any) -> Tool:
    values: dict[str, Any] = {
        "name": "get_forecast",
        "description": "Daily forecast for a city.",
        "parameters": json.loads(json.dumps(PARAMS)),
        "tags": ("weather",),
        "backend": "http",
        "backend_config": {"method": "GET"},
    }
    values.update(overrides)
    return Tool(**values)


def test_to_openai_shape() -> None:
    assert to_openai(weather(title="Forecast", returns=RETURNS)) == {
        "type": "function",
        "function": {
            "name": "get_forecast",
            "description": "Daily forecast for a city.",
            "parameters": PARAMS,
        },
    }


def test_to_anthropic_shape() -> None:
    assert to_anthropic(weather(title="Forecast", returns=RETURNS)) == {
        "name": "get_forecast",
        "description": "Daily forecast for a city.",
        "input_schema": PARAMS,
    }


@pytest.mark.parametrize(
    ("overrides", "expected_extra"),
    [
        pytest.param({}, {}, id="plain"),
        pytest.param({"title": "Forecast"}, {"title": "Forecast"}, id="title"),
        pytest.param({"returns": RETURNS}, {"outputSchema": RETURNS}, id="object-returns"),
        pytest.param({"returns": {"type": "array", "items": {}}}, {}, id="array-returns-dropped"),
        pytest.param(
            {"title": "Forecast", "returns": RETURNS},
            {"title": "Forecast", "outputSchema": RETURNS},
            id="both",
        ),
    ],
)
def test_to_mcp_shape(overrides: dict[str, Any], expected_extra: dict[str, Any]) -> None:
    expected = {"name": "get_forecast", "description": "Daily forecast for a city.", "inputSchema": PARAMS}
    assert to_mcp(weather(**overrides)) == {**expected, **expected_extra}


@pytest.mark.parametrize("export", [to_openai, to_anthropic, to_mcp])
def test_exports_are_copies(export: Any) -> None:
    tool = weather(returns=RETURNS)
    exported = json.dumps(export(tool))
    result = export(tool)
    for value in result.values():
        if isinstance(value, dict):
            value.clear()
    assert json.dumps(export(tool)) == exported
    assert tool.parameters == PARAMS


@pytest.mark.parametrize(
    "tool",
    [
        pytest.param(weather(), id="plain"),
        pytest.param(weather(title="Forecast", returns=RETURNS), id="title-and-returns"),
    ],
)
def test_mcp_round_trip(tool: Tool) -> None:
    again = from_mcp(json.loads(json.dumps(to_mcp(tool))))
    assert (again.name, again.description, again.parameters) == (tool.name, tool.description, tool.parameters)
    assert (again.title, again.returns) == (tool.title, tool.returns)
    assert again.backend == "mcp"


@pytest.mark.parametrize(
    ("entry", "description"),
    [
        pytest.param({"name": "t", "title": "Nice title", "inputSchema": PARAMS}, "Nice title", id="title"),
        pytest.param({"name": "t", "description": "", "inputSchema": PARAMS}, "t", id="name"),
    ],
)
def test_from_mcp_without_description(entry: dict[str, Any], description: str) -> None:
    assert from_mcp(entry).description == description


def test_from_mcp_defaults_and_annotations() -> None:
    tool = from_mcp({"name": "ping", "description": "Ping.", "annotations": {"readOnlyHint": True}})
    assert tool.parameters == {"type": "object", "properties": {}}
    assert tool.backend_config == {"annotations": {"readOnlyHint": True}}
    assert tool.returns is None


def test_from_mcp_invalid_name() -> None:
    with pytest.raises(ToolValidationError) as info:
        from_mcp({"name": "bad name", "description": "x", "inputSchema": PARAMS})
    assert info.value.field == "name"


@pytest.mark.parametrize(
    "result",
    [
        pytest.param(
            {"tools": [{"name": "a", "description": "A."}, {"name": "b", "description": "B."}]}, id="result"
        ),
        pytest.param(
            {
                "jsonrpc": "2.0",
                "id": 1,
                "result": {"tools": [{"name": "a", "description": "A."}, {"name": "b", "description": "B."}]},
            },
            id="json-rpc-response",
        ),
    ],
)
def test_from_mcp_list(result: dict[str, Any]) -> None:
    assert [tool.name for tool in from_mcp_list(result)] == ["a", "b"]


@pytest.mark.parametrize(
    ("result", "problem"),
    [
        pytest.param({}, "tools/list", id="no-tools"),
        pytest.param({"tools": {"a": {}}}, "tools/list", id="tools-dict"),
        pytest.param([], "tools/list", id="list"),
        pytest.param(
            {"tools": [{"name": "a", "description": "A."}, {"name": "b c"}]}, r"tools\[1\]", id="entry"
        ),
    ],
)
def test_from_mcp_list_errors(result: Any, problem: str) -> None:
    with pytest.raises(CatalogError, match=problem):
        from_mcp_list(result)


@pytest.mark.parametrize(
    ("fmt", "export"),
    [pytest.param("openai", to_openai), pytest.param("anthropic", to_anthropic), pytest.param("mcp", to_mcp)],
)
def test_export_catalog(fmt: str, export: Any) -> None:
    catalog = Catalog([weather(), weather(name="other", description="Other.")])
    assert export_catalog(catalog, fmt) == [export(tool) for tool in catalog]
    assert fmt in EXPORT_FORMATS


def test_export_catalog_rejects_unknown_format() -> None:
    with pytest.raises(CatalogError, match="openai, anthropic, mcp"):
        export_catalog(Catalog(), "gemini")
