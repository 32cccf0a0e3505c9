"""The JSON Schema of a plan for one request, narrow enough for a grammar engine to enforce.

Servers that decode under a grammar (llama.cpp, vLLM's guided decoding, Ollama) can only keep a
model from mistakes the schema rules out. So the schema is built per request: ``tool`` is one of
the offered names, each step is a ``oneOf`` of one branch per offered tool (with that tool's own
argument schema, each top-level argument also allowed to be a ``{"$ref": ...}``) and one for a
program, ``output`` is required, and the arrays are short (long arrays multiply the grammar).
Tools whose argument schema is large, or refers to definitions elsewhere, share one branch with
free-form arguments. ``validate_plan`` checks every plan afterwards all the same: not every server
enforces the schema, and JSON mode or plain text enforce none of it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable
from typing import Any

from toolweaver.catalog.model import Tool

PLAN_MAX_STEPS = 16  # more work than this belongs in a program step
MAX_DEPENDENCIES = 8
MAX_ARGUMENT_SCHEMA_CHARS = 1500  # per tool; larger ones get free-form arguments
MAX_SCHEMA_CHARS = 12_000  # all tool branches together
STEP_ID_PATTERN = "^[A-Za-z][A-Za-z0-9_-]*$"  # no {m,n}: grammar converters unroll counted repeats
CANNOT_PLAN = "cannot_plan"
_NON_LOCAL = ("$ref", "$defs", "definitions", "$id", "$anchor", "$dynamicRef")
# Grammar converters unroll length and count limits into nested rules: a maxLength of 1,000,000
# gave llama-cpp-python an 8 MB grammar. The limits stay in the tool's schema, which
# validate_plan checks; only the grammar goes without them.
_COUNTS = frozenset({"maxLength", "minLength", "maxItems", "minItems", "maxProperties", "minProperties"})

# {"$ref": "s1.field"} in place of an argument value. Not written as properties: {"$ref": ...}:
# grammar converters (llama.cpp's, llama-cpp-python's) take a property named "$ref" for a schema
# reference and fail. One string-valued key is what they can all express; validation names it
# when a model writes another key.
REF_VALUE: dict[str, Any] = {
    "type": "object",
    "additionalProperties": {"type": "string"},
    "minProperties": 1,
    "maxProperties": 1,
    "description": 'a reference to an earlier step\'s output: {"$ref": "s1.field"}',
}
_STEP_ID = {"type": "string", "pattern": STEP_ID_PATTERN}
_DEPENDS_ON = {"type": "array", "items": _STEP_ID, "maxItems": MAX_DEPENDENCIES}


def plan_schema(tools: Iterable[Tool]) -> dict[str, Any]:
    """The plan schema offering exactly ``tools`` (sorted by name, so one tool set gives one schema)."""
    offered = sorted(tools, key=lambda tool: tool.name)
    branches: list[dict[str, Any]] = []
    free: list[str] = []
    budget = MAX_SCHEMA_CHARS
    for tool in offered:
        arguments = argument_schema(tool)
        size = len(json.dumps(arguments)) if arguments is not None else 0
        if arguments is None or size > budget:
            free.append(tool.name)
            continue
        budget -= size
        branches.append(_tool_step({"type": "string", "enum": [tool.name]}, arguments))
    if free:
        branches.append(_tool_step({"type": "string", "enum": free}, {"type": "object"}))
    names = [tool.name for tool in offered]
    branches.append(_program_step(names))
    return {
        "type": "object",
        "properties": {
            "steps": {"type": "array", "items": {"oneOf": branches}, "maxItems": PLAN_MAX_STEPS},
            "output": {"type": "string", "description": "id of the step whose output answers the request"},
            CANNOT_PLAN: {"type": "string", "description": "only with no steps: what is missing"},
        },
        "required": ["steps", "output"],
        "additionalProperties": False,
    }


def response_format(tools: Iterable[Tool]) -> dict[str, Any]:
    """The ``response_format`` asking for structured output with :func:`plan_schema`.

    ``strict`` stays off: strict mode wants every property required and forbids free-form
    objects, which tool argument schemas use.
    """
    return {
        "type": "json_schema",
        "json_schema": {"name": "plan", "strict": False, "schema": plan_schema(tools)},
    }


def argument_schema(tool: Tool) -> dict[str, Any] | None:
    """``tool``'s argument schema with each top-level value also allowed to be a reference, or
    None when it is too large for a grammar or not self-contained."""
    parameters = tool.parameters
    if len(json.dumps(parameters)) > MAX_ARGUMENT_SCHEMA_CHARS or _has_non_local(parameters):
        return None
    schema: dict[str, Any] = _without_counts(parameters)
    properties = schema.get("properties")
    if isinstance(properties, dict):
        schema["properties"] = {name: {"anyOf": [value, REF_VALUE]} for name, value in properties.items()}
    schema.setdefault("type", "object")
    return schema


def _without_counts(value: Any) -> Any:
    """A deep copy of a schema without length and count limits (keys under "properties" are
    property names, kept whatever they are called)."""
    if isinstance(value, list):
        return [_without_counts(item) for item in value]
    if not isinstance(value, dict):
        return copy.deepcopy(value)
    kept: dict[str, Any] = {}
    for key, item in value.items():
        if key == "properties" and isinstance(item, dict):
            kept[key] = {name: _without_counts(sub) for name, sub in item.items()}
        elif key not in _COUNTS:
            kept[key] = _without_counts(item)
    return kept


def _has_non_local(value: Any) -> bool:
    if isinstance(value, dict):
        return any(key in _NON_LOCAL for key in value) or any(_has_non_local(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_non_local(item) for item in value)
    return False


def _tool_step(tool: dict[str, Any], arguments: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"id": _STEP_ID, "tool": tool, "arguments": arguments, "depends_on": _DEPENDS_ON},
        "required": ["id", "tool", "arguments"],
        "additionalProperties": False,
    }


def _program_step(names: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "id": _STEP_ID,
            "program": {"type": "string", "description": "async Python that sets `result`"},
            "tools": {"type": "array", "items": {"type": "string", "enum": names}, "maxItems": len(names)},
            "arguments": {"type": "object"},
            "depends_on": _DEPENDS_ON,
        },
        "required": ["id", "program", "tools"],
        "additionalProperties": False,
    }
