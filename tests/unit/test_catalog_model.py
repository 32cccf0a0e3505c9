"""Tool validation, hashing and (de)serialisation; Catalog behaviour."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from toolweaver.catalog.model import BACKEND_KINDS, TOOL_KEYS, Tool, sanitize_name, unique_name
from toolweaver.errors import CatalogError, ToolValidationError

REPO = Path(__file__).resolve().parents[2]

WEATHER_PARAMS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "City name"},
        "units": {"type": "string", "enum": ["metric", "imperial"]},
    },
    "required": ["city"],
}


def make_tool(**overrides: Any) -> Tool:
    values: dict[str, Any] = {"name": "get_weather", "description": "Current weather for a city."}
    values.update(overrides)
    return Tool(**values)


def full_tool() -> Tool:
    return Tool(
        name="get_weather",
        description="Current weather for a city.",
        parameters=json.loads(json.dumps(WEATHER_PARAMS)),
        returns={"type": "object", "properties": {"temp": {"type": "number"}}},
        examples=({"request": "weather in Oslo?", "arguments": {"city": "Oslo"}},),
        tags=("weather", "travel"),
        backend="http",
        title="Weather",
        backend_config={"method": "GET", "path": "/weather"},
    )


# --- Tool validation ---------------------------------------------------------------------------------


def test_minimal_tool_gets_documented_defaults() -> None:
    tool = make_tool()
    assert tool.parameters == {"type": "object", "properties": {}}
    assert (tool.returns, tool.examples, tool.tags, tool.backend, tool.title) == (None, (), (), "none", None)
    assert tool.backend_config == {}


def test_field_order_matches_the_interface() -> None:
    names = [f.name for f in dataclasses.fields(Tool)]
    assert names == list(TOOL_KEYS)
    assert BACKEND_KINDS == ("python", "http", "mcp", "skill", "none")


@pytest.mark.parametrize(
    ("overrides", "tool_name", "field", "problem"),
    [
        pytest.param({"name": "get weather"}, "get weather", "name", "get_weather", id="name-space"),
        pytest.param({"name": ""}, "", "name", "1-64 characters", id="name-empty"),
        pytest.param({"name": "a" * 65}, "a" * 65, "name", "1-64 characters", id="name-too-long"),
        pytest.param({"name": 7}, "7", "name", "1-64 characters", id="name-not-str"),
        pytest.param({"description": ""}, "get_weather", "description", "non-empty", id="desc-empty"),
        pytest.param({"description": "  \n"}, "get_weather", "description", "non-empty", id="desc-blank"),
        pytest.param({"description": "x" * 4097}, "get_weather", "description", "4096", id="desc-too-long"),
        pytest.param({"parameters": []}, "get_weather", "parameters", "JSON Schema", id="params-list"),
        pytest.param(
            {"parameters": {"properties": {}}},
            "get_weather",
            "parameters.type",
            "is missing",
            id="params-no-type",
        ),
        pytest.param(
            {"parameters": {"type": "array"}}, "get_weather", "parameters.type", "'array'", id="params-array"
        ),
        pytest.param(
            {"parameters": {"type": "object", "properties": []}},
            "get_weather",
            "parameters.properties",
            "must map",
            id="properties-list",
        ),
        pytest.param(
            {"parameters": {"type": "object", "properties": {"city": "string"}}},
            "get_weather",
            "parameters.properties.city",
            "JSON Schema object",
            id="property-not-dict",
        ),
        pytest.param(
            {"parameters": {"type": "object", "properties": {}, "required": "city"}},
            "get_weather",
            "parameters.required",
            "list of property names",
            id="required-str",
        ),
        pytest.param(
            {"parameters": {"type": "object", "properties": {"a": {}}, "required": ["a", "b"]}},
            "get_weather",
            "parameters.required",
            "'b'",
            id="required-unknown",
        ),
        pytest.param(
            {"parameters": {"type": "object", "required": ["a"]}},
            "get_weather",
            "parameters.required",
            "'a'",
            id="required-without-properties",
        ),
        pytest.param({"returns": ["x"]}, "get_weather", "returns", "JSON Schema", id="returns-list"),
        pytest.param({"examples": ("call it",)}, "get_weather", "examples[0]", "request", id="example-str"),
        pytest.param({"examples": {"request": "x"}}, "get_weather", "examples", "list", id="examples-dict"),
        pytest.param({"tags": ("ok", 3)}, "get_weather", "tags", "strings", id="tag-int"),
        pytest.param(
            {"backend": "grpc"}, "get_weather", "backend", "python, http, mcp, skill, none", id="backend"
        ),
        pytest.param({"title": 5}, "get_weather", "title", "string", id="title-int"),
        pytest.param({"backend_config": []}, "get_weather", "backend_config", "object", id="config-list"),
    ],
)
def test_validation_errors_name_tool_and_field(
    overrides: dict[str, Any], tool_name: str, field: str, problem: str
) -> None:
    with pytest.raises(ToolValidationError) as info:
        make_tool(**overrides)
    assert (info.value.tool, info.value.field) == (tool_name, field)
    assert problem in info.value.problem
    assert f"tool {tool_name!r}" in str(info.value)
    assert f"field {field!r}" in str(info.value)


def test_validation_error_is_a_catalog_error() -> None:
    with pytest.raises(CatalogError):
        make_tool(name="bad name")


@pytest.mark.parametrize("name", ["a", "get.weather-v2_1", "A" * 64, "0"])
def test_valid_names(name: str) -> None:
    assert make_tool(name=name).name == name


def test_nested_schemas_are_kept_untouched() -> None:
    params = {
        "type": "object",
        "$defs": {"point": {"type": "object", "properties": {"lat": {"type": "number"}}}},
        "properties": {
            "route": {"type": "array", "items": {"$ref": "#/$defs/point"}},
            "options": {"type": "object", "properties": {"avoid": {"type": "array", "items": {}}}},
            "anything": {},
        },
        "additionalProperties": False,
    }
    snapshot = json.loads(json.dumps(params))
    tool = make_tool(parameters=params)
    assert tool.parameters == snapshot
    assert tool.to_dict()["parameters"] == snapshot


def test_lists_are_stored_as_tuples() -> None:
    tool = make_tool(tags=["a", "b"], examples=[{"request": "x", "arguments": {}}])
    assert tool.tags == ("a", "b")
    assert tool.examples == ({"request": "x", "arguments": {}},)


def test_tools_are_frozen_and_hashable() -> None:
    tool = full_tool()
    with pytest.raises(dataclasses.FrozenInstanceError):
        tool.name = "other"  # type: ignore[misc]
    assert len({tool, full_tool()}) == 1
    assert tool == full_tool()


# --- content hash ------------------------------------------------------------------------------------


def test_content_hash_is_sha256_of_canonical_json() -> None:
    tool = full_tool()
    canonical = json.dumps(tool.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert tool.content_hash == hashlib.sha256(canonical.encode()).hexdigest()


def test_content_hash_ignores_key_order() -> None:
    a = make_tool(parameters=WEATHER_PARAMS, backend_config={"x": 1, "y": {"b": 2, "a": 1}})
    reordered = {
        "required": ["city"],
        "properties": {
            "units": {"enum": ["metric", "imperial"], "type": "string"},
            "city": {"description": "City name", "type": "string"},
        },
        "type": "object",
    }
    b = make_tool(parameters=reordered, backend_config={"y": {"a": 1, "b": 2}, "x": 1})
    assert a.content_hash == b.content_hash


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"name": "get_weather2"}, id="name"),
        pytest.param({"description": "Current weather for a town."}, id="description"),
        pytest.param({"parameters": {**WEATHER_PARAMS, "required": []}}, id="parameters"),
        pytest.param({"returns": None}, id="returns"),
        pytest.param({"examples": ()}, id="examples"),
        pytest.param({"tags": ("weather",)}, id="tags"),
        pytest.param({"backend": "python"}, id="backend"),
        pytest.param({"title": "Weather now"}, id="title"),
        pytest.param({"backend_config": {"method": "POST", "path": "/weather"}}, id="backend_config"),
    ],
)
def test_content_hash_changes_with_every_field(change: dict[str, Any]) -> None:
    base = full_tool()
    assert dataclasses.replace(base, **change).content_hash != base.content_hash


def test_content_hash_is_stable_across_processes() -> None:
    code = (
        "from toolweaver.catalog.model import Tool;"
        "print(Tool.from_dict({'name': 'x', 'description': 'ü', 'tags': ['b', 'a'],"
        " 'parameters': {'type': 'object', 'properties': {'q': {'type': 'string'}}}}).content_hash)"
    )
    expected = Tool.from_dict(
        {
            "name": "x",
            "description": "ü",
            "tags": ["b", "a"],
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        }
    ).content_hash
    for seed in ("1", "2"):
        out = subprocess.run(
            [sys.executable, "-c", code],
            cwd=REPO,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
            capture_output=True,
            text=True,
            check=True,
        )
        assert out.stdout.strip() == expected


# --- to_dict / from_dict -----------------------------------------------------------------------------


def test_to_dict_omits_empty_optional_fields() -> None:
    assert make_tool().to_dict() == {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {"type": "object", "properties": {}},
        "backend": "none",
    }


def test_to_dict_is_plain_json_and_a_copy() -> None:
    tool = full_tool()
    data = tool.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["tags"] == ["weather", "travel"]
    data["parameters"]["properties"].clear()
    data["examples"][0]["arguments"]["city"] = "Rome"
    assert tool.parameters["properties"]
    assert tool.examples[0]["arguments"] == {"city": "Oslo"}


@pytest.mark.parametrize(
    "tool", [pytest.param(make_tool(), id="minimal"), pytest.param(full_tool(), id="full")]
)
def test_round_trip(tool: Tool) -> None:
    again = Tool.from_dict(json.loads(json.dumps(tool.to_dict())))
    assert again == tool
    assert again.content_hash == tool.content_hash


def test_from_dict_unknown_key_names_it_and_lists_valid_keys() -> None:
    with pytest.raises(ToolValidationError) as info:
        Tool.from_dict({"name": "t", "description": "d", "input_schema": {}})
    assert info.value.field == "input_schema"
    assert info.value.tool == "t"
    for key in TOOL_KEYS:
        assert key in info.value.problem


@pytest.mark.parametrize(
    ("data", "field"),
    [
        pytest.param({"description": "d"}, "name", id="missing-name"),
        pytest.param({"name": "t"}, "description", id="missing-description"),
        pytest.param({"name": 3, "description": "d"}, "name", id="name-int"),
        pytest.param({"name": "t", "description": ["d"]}, "description", id="description-list"),
        pytest.param({"name": "t", "description": "d", "parameters": []}, "parameters", id="parameters-list"),
        pytest.param({"name": "t", "description": "d", "returns": "str"}, "returns", id="returns-str"),
        pytest.param({"name": "t", "description": "d", "tags": "weather"}, "tags", id="tags-str"),
        pytest.param({"name": "t", "description": "d", "examples": {"a": 1}}, "examples", id="examples-dict"),
        pytest.param({"name": "t", "description": "d", "backend": 1}, "backend", id="backend-int"),
        pytest.param({"name": "t", "description": "d", "title": 1}, "title", id="title-int"),
        pytest.param({"name": "t", "description": "d", "backend_config": 1}, "backend_config", id="config"),
    ],
)
def test_from_dict_wrong_types_name_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(ToolValidationError) as info:
        Tool.from_dict(data)
    assert info.value.field == field


def test_from_dict_rejects_non_mapping() -> None:
    with pytest.raises(ToolValidationError):
        Tool.from_dict(["name", "x"])  # type: ignore[arg-type]


def test_from_dict_converts_lists_to_tuples() -> None:
    tool = Tool.from_dict({"name": "t", "description": "d", "tags": ["a"], "examples": [{"request": "r"}]})
    assert tool.tags == ("a",)
    assert tool.examples == ({"request": "r"},)


# --- helpers -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("PDF&URLTool", "PDF_URLTool", id="ampersand"),
        pytest.param("YituTech/conv-bert-base", "YituTech_conv-bert-base", id="slash"),
        pytest.param("x" * 70, "x" * 64, id="truncate"),
        pytest.param("", "_", id="empty"),
    ],
)
def test_sanitize_name(text: str, expected: str) -> None:
    assert sanitize_name(text) == expected


def test_unique_name_adds_a_numeric_suffix_within_64_chars() -> None:
    assert unique_name("a", set()) == "a"
    assert unique_name("a", {"a", "a_2"}) == "a_3"
    long = "x" * 64
    assert unique_name(long, {long}) == "x" * 62 + "_2"
