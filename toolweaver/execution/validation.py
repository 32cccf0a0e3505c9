"""Tool arguments against the tool's JSON Schema (Draft 2020-12), with messages safe to show.

A message names where the problem is (``$.items[2].qty``) and what the schema wants, never the
value that was sent: arguments may hold secrets, and errors end up in logs and API responses.
Used by the executor before every call and by plan validation before a plan runs.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from toolweaver.catalog.model import Tool
from toolweaver.execution.ports import ToolCallError

MAX_REPORTED_PROBLEMS = 3
_CACHE_SIZE = 4096
_CONSTRAINT_CHARS = 80
_NAMES_ONLY = frozenset({"required", "additionalProperties", "unevaluatedProperties", "dependentRequired"})
_WANTED = {
    "type": "must be of type",
    "enum": "must be one of",
    "const": "must be",
    "pattern": "must match the pattern",
}
_validators: dict[str, Any] = {}
_lock = threading.Lock()

Path = Sequence[str | int]
# jsonschema ships no type hints (types-jsonschema is not a dependency): its errors are Any here.
ValidationError = Any


def validator_for(tool: Tool) -> Any:
    """The compiled validator of ``tool.parameters``, cached by the tool's content hash."""
    validator = _validators.get(tool.content_hash)
    if validator is not None:
        return validator
    # Imported on first use: jsonschema costs ~80 ms, and importing the app must stay cheap for
    # cold starts (function_app.py reaches this module through the plan and planner imports).
    from jsonschema import Draft202012Validator  # type: ignore[import-untyped]
    from jsonschema.exceptions import SchemaError  # type: ignore[import-untyped]

    try:
        Draft202012Validator.check_schema(tool.parameters)
    except SchemaError as exc:
        raise ToolCallError(
            tool.name, f"its parameters schema is not valid JSON Schema ({exc.message}); fix the tool"
        ) from None
    validator = Draft202012Validator(tool.parameters, format_checker=Draft202012Validator.FORMAT_CHECKER)
    with _lock:
        if len(_validators) >= _CACHE_SIZE:
            _validators.clear()  # rare: a huge catalog churning; rebuilding a validator is cheap
        _validators[tool.content_hash] = validator
    return validator


def check_arguments(
    tool: Tool, arguments: object, *, skip: Callable[[ValidationError], bool] | None = None
) -> None:
    """Raise ToolCallError(kind="invalid_arguments") listing the problems; ``skip`` drops some."""
    if not isinstance(arguments, dict):
        raise ToolCallError(
            tool.name,
            f"arguments must be a JSON object, got {type(arguments).__name__}",
            kind="invalid_arguments",
        )
    problems = argument_problems(tool, arguments, skip=skip)
    if problems:
        raise ToolCallError(tool.name, "invalid arguments: " + "; ".join(problems), kind="invalid_arguments")


def argument_problems(
    tool: Tool, arguments: Mapping[str, Any], *, skip: Callable[[ValidationError], bool] | None = None
) -> list[str]:
    """At most MAX_REPORTED_PROBLEMS lines like ``$.items[0].qty: must be of type "integer"``."""
    errors = [e for e in validator_for(tool).iter_errors(arguments) if skip is None or not skip(e)]
    errors.sort(key=lambda e: [str(p) for p in e.absolute_path])
    problems = [f"{json_path(error.absolute_path)}: {describe(error)}" for error in errors]
    if len(problems) > MAX_REPORTED_PROBLEMS:
        extra = len(problems) - MAX_REPORTED_PROBLEMS
        problems = [*problems[:MAX_REPORTED_PROBLEMS], f"and {extra} more"]
    return problems


def json_path(path: Path) -> str:
    """``$``, ``$.a.b``, ``$.items[2]``: where in the arguments a problem is."""
    text = "$"
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def describe(error: ValidationError) -> str:
    """What the schema wanted, from the schema alone: the caller's value may be a secret."""
    kind = str(error.validator)
    if kind in _NAMES_ONLY:
        return str(error.message)  # names properties only, never values
    if kind == "format":
        return f"must be a valid {error.validator_value}"
    if kind in ("anyOf", "oneOf"):
        return f"matches none of the allowed shapes ({kind})"
    return _WANTED.get(kind, f"fails {kind} =") + " " + _constraint(error.validator_value)


def _constraint(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _CONSTRAINT_CHARS else text[: _CONSTRAINT_CHARS - 1] + "…"
