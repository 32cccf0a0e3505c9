"""Tools as the planner's prompt lists them: a compact signature per tool, not raw JSON Schema.

JSON Schema spends most of its tokens on punctuation and keywords (``"type":"string"``). A
signature in the style models read in code (``from_unit: string``, ``count?: integer>=1``,
``"email"|"popup"``) carries the same names, types, required marks, enums, formats and
descriptions in about half the tokens (bench/RESULTS.md, "Planner prompt"). Parts of a schema
that have no short form (``allOf``, ``patternProperties``, ...) are kept as compact JSON, so
nothing a plan needs is lost. The rendering is deterministic: the same tool gives the same bytes,
which keeps the prompt's prefix cacheable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from toolweaver.catalog.model import Tool

LISTED_EXAMPLES = 1  # one example shows the argument style; the repair round may show another
_SIMPLE = ("string", "number", "integer", "boolean", "null")
_SHOWN = frozenset(
    {"type", "description", "properties", "required", "items", "enum", "const", "format", "default",
     "minimum", "maximum", "additionalProperties", "anyOf", "oneOf", "title", "examples", "pattern"}
)  # fmt: skip
# Limits left out of the listing: the grammar and the validation enforce them, and a violation
# comes back in the repair round with the limit named.
_UNSHOWN = frozenset(
    {"maxLength", "minLength", "minItems", "maxItems", "uniqueItems", "exclusiveMinimum",
     "exclusiveMaximum", "multipleOf", "$schema", "deprecated", "readOnly", "writeOnly"}
)  # fmt: skip


def compact_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: one value, one rendering."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def describe_tool(tool: Tool) -> str:
    """The tool's lines in the prompt: a heading, its description, its arguments one per line,
    what it returns (the fields references can reach) and one example request."""
    lines = [f"## {tool.name}", " ".join(tool.description.split())]
    properties = tool.parameters.get("properties")
    required = set(tool.parameters.get("required", ()))
    if isinstance(properties, Mapping) and properties:
        lines.append("arguments:")
        for name, schema in properties.items():
            lines.append(f"  {_field(name, schema, name in required)}")
    elif tool.parameters.get("type") == "object" and set(tool.parameters) <= {"type", "properties"}:
        lines.append("arguments: none ({})")
    else:
        lines.append(f"arguments: {signature(tool.parameters)}")
    if tool.returns is not None:
        lines.append(f"returns: {signature(tool.returns, described=False)}")
    for example in tool.examples[:LISTED_EXAMPLES]:
        lines.append(f"example: {example_line(example)}")
    return "\n".join(lines)


def example_line(example: Mapping[str, Any]) -> str:
    """``"request" -> {arguments}`` for one of a tool's examples."""
    request = json.dumps(example.get("request", ""), ensure_ascii=False)
    arguments = json.dumps(example.get("arguments", {}), ensure_ascii=False, separators=(",", ":"))
    return f"{request} -> {arguments}"  # the arguments in the tool's own order: it reads best


def _field(name: str, schema: Any, required: bool) -> str:
    text = f"{name}{'' if required else '?'}: {signature(schema)}"
    if isinstance(schema, Mapping) and "default" in schema:
        text += f" = {compact_json(schema['default'])}"
    description = schema.get("description") if isinstance(schema, Mapping) else None
    if isinstance(description, str) and description.strip():
        text += f"  # {' '.join(description.split())}"
    return text


def signature(schema: Any, *, described: bool = True) -> str:  # noqa: PLR0911 - one exit per kind
    """A schema as a short type expression, e.g. ``{method: "email"|"popup", minutes?: integer>=0}[]``.

    ``described``: short descriptions of object fields follow them in parentheses.
    """
    if not isinstance(schema, Mapping):
        return compact_json(schema)
    if not set(schema) <= _SHOWN | _UNSHOWN:
        return compact_json(schema)  # keywords with no short form: the JSON says it exactly
    if "const" in schema:
        return compact_json(schema["const"])
    if "enum" in schema:
        return "|".join(compact_json(value) for value in schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return "|".join(_grouped(option, described) for option in schema[key])
    kind = schema.get("type")
    if isinstance(kind, list):
        return "|".join(signature({**schema, "type": one}, described=described) for one in kind)
    if kind == "array" or "items" in schema:
        return f"{_grouped(schema['items'], described)}[]" if "items" in schema else "array"
    if kind == "object" or "properties" in schema:
        return _object(schema, described)
    if kind in _SIMPLE:
        return _scalar(kind, schema)
    return "any"


def _grouped(schema: Any, described: bool) -> str:
    text = signature(schema, described=described)
    return f"({text})" if "|" in text and not text.startswith("{") else text


def _object(schema: Mapping[str, Any], described: bool) -> str:
    properties = schema.get("properties")
    if not isinstance(properties, Mapping) or not properties:
        return "object"
    required = set(schema.get("required", ()))
    fields = []
    for name, sub in properties.items():
        text = f"{name}{'' if name in required else '?'}: {signature(sub, described=described)}"
        description = sub.get("description") if described and isinstance(sub, Mapping) else None
        if isinstance(description, str) and description.strip() and len(description) <= 80:
            text += f" ({' '.join(description.split())})"
        fields.append(text)
    return "{" + ", ".join(fields) + "}"


def _scalar(kind: str, schema: Mapping[str, Any]) -> str:
    text = kind
    if isinstance(schema.get("format"), str):
        text += f"<{schema['format']}>"
    if isinstance(schema.get("pattern"), str):
        text += f" matching /{schema['pattern']}/"
    low, high = schema.get("minimum"), schema.get("maximum")
    if low is not None and high is not None:
        text += f" {low}..{high}"
    elif low is not None:
        text += f">={low}"
    elif high is not None:
        text += f"<={high}"
    return text
