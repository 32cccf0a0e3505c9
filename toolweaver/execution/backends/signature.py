"""JSON Schemas from Python signatures and Google-style docstrings, for registered python tools.

Supported annotations: str, int, float, bool, None, Any, list[X]/Sequence[X]/tuple[X, ...],
dict/dict[str, X], Literal[...], Optional/unions, TypedDict, datetime.date/datetime, and
``Annotated[X, "description"]`` or ``Annotated[X, {extra schema keys}]``. Anything else is
rejected when the tool is registered, so a bad signature fails at import, not on a call.
"""

from __future__ import annotations

import collections.abc
import datetime as dt
import inspect
import re
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_SECTION = re.compile(
    r"^(Args|Arguments|Parameters|Attributes|Returns|Return|Raises|Yields|Examples?|Notes?):\s*$"
)
_PARAM_SECTIONS = ("Args", "Arguments", "Parameters", "Attributes")  # Attributes: TypedDict fields
_ARG_LINE = re.compile(r"^(\*{0,2}\w+)\s*(?:\([^)]*\))?\s*:\s*(.*)$")
_SIMPLE: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    bool: {"type": "boolean"},
    int: {"type": "integer"},
    float: {"type": "number"},
    type(None): {"type": "null"},
    dt.datetime: {"type": "string", "format": "date-time"},
    dt.date: {"type": "string", "format": "date"},
}
_SEQUENCES = (list, tuple, set, frozenset, collections.abc.Sequence, collections.abc.Iterable)
_MAPPINGS = (dict, collections.abc.Mapping)


@dataclass(frozen=True)
class Docstring:
    description: str
    params: dict[str, str]


def parse_docstring(doc: str | None) -> Docstring:
    """First paragraph as the description, ``Args:`` (or ``Attributes:``) entries as field descriptions."""
    lines = inspect.cleandoc(doc or "").splitlines()
    summary: list[str] = []
    for line in lines:
        if not line.strip() or _SECTION.match(line.strip()):
            if summary:
                break
            continue
        summary.append(line.strip())
    return Docstring(" ".join(summary), _args_section(lines))


def _args_section(lines: list[str]) -> dict[str, str]:
    params: dict[str, str] = {}
    inside = False
    current: str | None = None
    entry_indent = -1
    for line in lines:
        stripped = line.strip()
        header = _SECTION.match(stripped)
        if header:
            inside = header.group(1) in _PARAM_SECTIONS
            current, entry_indent = None, -1
            continue
        if not inside or not stripped:
            continue
        indent = len(line) - len(line.lstrip())
        match = _ARG_LINE.match(stripped)
        if match and (entry_indent < 0 or indent <= entry_indent):
            entry_indent = indent
            current = match.group(1).lstrip("*")
            params[current] = match.group(2).strip()
        elif current is not None and indent > entry_indent:
            params[current] = f"{params[current]} {stripped}".strip()
    return params


def parameters_schema(func: Callable[..., Any], docs: Docstring) -> dict[str, Any]:
    """The ``{"type": "object", ...}`` schema of ``func``'s parameters."""
    hints = typing.get_type_hints(func, include_extras=True)
    properties: dict[str, Any] = {}
    required: list[str] = []
    for param in inspect.signature(func).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise TypeError(f"{func.__qualname__}: *{param.name} cannot be described as JSON Schema")
        schema = type_schema(hints.get(param.name, Any), f"{func.__qualname__}({param.name})")
        if param.name in docs.params and "description" not in schema:
            schema["description"] = docs.params[param.name]
        if param.default is param.empty:
            required.append(param.name)
        elif param.default is not None or _allows_null(schema):
            schema["default"] = _json_default(param.default, func, param.name)
        properties[param.name] = schema
    result: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        result["required"] = required
    result["additionalProperties"] = False
    return result


def returns_schema(func: Callable[..., Any]) -> dict[str, Any] | None:
    """The schema of the return annotation; None when there is none or it says nothing (Any)."""
    hint = typing.get_type_hints(func, include_extras=True).get("return", Any)
    if hint is Any:
        return None
    return type_schema(hint, f"{func.__qualname__} -> return")


def type_schema(hint: Any, where: str) -> dict[str, Any]:  # noqa: PLR0911 - one exit per kind
    """JSON Schema of one annotation; TypeError names ``where`` for anything unsupported."""
    if hint is Any or hint is inspect.Parameter.empty:
        return {}
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Annotated:  # first: its metadata may be a dict, which cannot be hashed
        return _annotated_schema(args, where)
    if hint in _SIMPLE:
        return dict(_SIMPLE[hint])
    if typing.is_typeddict(hint):
        return _typeddict_schema(hint, where)
    if origin is typing.Literal:
        return _literal_schema(args)
    if origin in (typing.Union, types.UnionType):
        return _union_schema(args, where)
    if hint in _SEQUENCES or origin in _SEQUENCES:
        return _sequence_schema(origin, args, where)
    if hint in _MAPPINGS or origin in _MAPPINGS:
        if len(args) == 2 and args[0] is not str:
            raise TypeError(f"{where}: JSON object keys are strings; use dict[str, ...]")
        schema: dict[str, Any] = {"type": "object"}
        if len(args) == 2 and args[1] is not Any:
            schema["additionalProperties"] = type_schema(args[1], where)
        return schema
    raise TypeError(
        f"{where}: cannot describe {hint!r} as JSON Schema; use str, int, float, bool, list or dict"
    )


def _annotated_schema(args: tuple[Any, ...], where: str) -> dict[str, Any]:
    schema = type_schema(args[0], where)
    for extra in args[1:]:
        if isinstance(extra, str):
            schema["description"] = extra
        elif isinstance(extra, dict):
            schema.update(extra)
    return schema


def _literal_schema(values: tuple[Any, ...]) -> dict[str, Any]:
    schema: dict[str, Any] = {"enum": list(values)}
    kinds = {type(value) for value in values}
    if len(kinds) == 1 and next(iter(kinds)) in _SIMPLE:
        schema = {"type": _SIMPLE[next(iter(kinds))]["type"], **schema}
    return schema


def _union_schema(args: tuple[Any, ...], where: str) -> dict[str, Any]:
    options = [type_schema(arg, where) for arg in args]
    simple = [option.get("type") for option in options]
    if all(
        set(option) == {"type"} and isinstance(kind, str)
        for option, kind in zip(options, simple, strict=True)
    ):
        return {"type": simple}  # ["string", "null"] reads better than an anyOf of one-liners
    return {"anyOf": options}


def _sequence_schema(origin: Any, args: tuple[Any, ...], where: str) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "array"}
    if origin is tuple and args and args[-1] is not Ellipsis:
        schema["prefixItems"] = [type_schema(arg, where) for arg in args]
        schema["minItems"] = schema["maxItems"] = len(args)
    elif args and args[0] is not Any:
        schema["items"] = type_schema(args[0], where)
    if origin in (set, frozenset):
        schema["uniqueItems"] = True
    return schema


def _typeddict_schema(hint: Any, where: str) -> dict[str, Any]:
    fields = typing.get_type_hints(hint, include_extras=True)
    docs = parse_docstring(hint.__doc__)
    properties = {}
    for name, field_type in fields.items():
        schema = type_schema(field_type, f"{where}.{name}")
        if name in docs.params and "description" not in schema:
            schema["description"] = docs.params[name]
        properties[name] = schema
    schema_out: dict[str, Any] = {"type": "object", "properties": properties}
    required = [name for name in fields if name in hint.__required_keys__]
    if required:
        schema_out["required"] = required
    return schema_out


def _allows_null(schema: dict[str, Any]) -> bool:
    kind = schema.get("type")
    if kind == "null" or (isinstance(kind, list) and "null" in kind):
        return True
    return any(_allows_null(option) for option in schema.get("anyOf", ()))


def _json_default(value: object, func: Callable[..., Any], name: str) -> object:
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, tuple | list) and all(isinstance(v, str | int | float | bool) for v in value):
        return list(value)
    raise TypeError(f"{func.__qualname__}({name}): the default {value!r} is not a JSON value")
