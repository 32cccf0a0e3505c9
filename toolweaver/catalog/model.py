"""Tool and Catalog: the validated, immutable records every other part of ToolWeaver works on.

A Tool is validated once, when it is built, so search, planning and execution can trust it.
Nested JSON Schemas are kept exactly as given: ToolWeaver checks only the top level it relies on.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import re
from collections.abc import Container, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal, get_args

from toolweaver.catalog.backend_config import backend_config_problem
from toolweaver.errors import CatalogError, ToolNotFoundError, ToolValidationError

logger = logging.getLogger(__name__)

# "skill": a saved program that runs in the sandbox (toolweaver.skills); the rest reach real backends.
BackendKind = Literal["python", "http", "mcp", "skill", "none"]
BACKEND_KINDS: tuple[str, ...] = get_args(BackendKind)

NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_.-]{1,64}$")
MAX_NAME_LENGTH = 64
MAX_DESCRIPTION_LENGTH = 4096
_INVALID_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_.-]")

TOOL_KEYS: tuple[str, ...] = (
    "name",
    "description",
    "parameters",
    "returns",
    "examples",
    "tags",
    "backend",
    "title",
    "backend_config",
)


def empty_parameters() -> dict[str, Any]:
    """The schema of a tool that takes no arguments."""
    return {"type": "object", "properties": {}}


def sanitize_name(text: str) -> str:
    """Turn free text into a valid tool name: invalid characters become '_', at most 64 characters."""
    cleaned = _INVALID_NAME_CHARS.sub("_", text)[:MAX_NAME_LENGTH]
    return cleaned or "_"


def unique_name(base: str, taken: Container[str]) -> str:
    """``base``, or ``base_2``, ``base_3``, ... (kept within 64 characters) when that is taken."""
    if base not in taken:
        return base
    counter = 2
    while True:
        suffix = f"_{counter}"
        candidate = base[: MAX_NAME_LENGTH - len(suffix)] + suffix
        if candidate not in taken:
            return candidate
        counter += 1


def _type_name(value: object) -> str:
    return type(value).__name__


@dataclass(frozen=True)
class Tool:
    """One callable tool: what it does, what it takes, and how it is reached.

    Treat instances as deeply immutable: ``content_hash`` is computed once and cached.
    """

    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=empty_parameters)
    returns: dict[str, Any] | None = None
    examples: tuple[dict[str, Any], ...] = ()
    tags: tuple[str, ...] = ()
    backend: BackendKind = "none"
    title: str | None = None
    backend_config: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Lists are accepted for convenience but stored as tuples, so the record stays hashable-ish.
        tags: object = self.tags
        examples: object = self.examples
        if isinstance(tags, list):
            object.__setattr__(self, "tags", tuple(tags))
        if isinstance(examples, list):
            object.__setattr__(self, "examples", tuple(examples))
        self._validate_name()
        self._validate_description()
        _validate_parameters(self.name, self.parameters)
        self._validate_optional_fields()

    def __hash__(self) -> int:
        return hash(self.content_hash)

    def _fail(self, field_name: str, problem: str) -> ToolValidationError:
        return ToolValidationError(
            self.name if isinstance(self.name, str) else repr(self.name), field_name, problem
        )

    def _validate_name(self) -> None:
        if not isinstance(self.name, str) or not NAME_PATTERN.match(self.name):
            hint = f" (e.g. {sanitize_name(self.name)!r})" if isinstance(self.name, str) and self.name else ""
            raise self._fail(
                "name",
                "must be 1-64 characters of letters, digits, '_', '.' or '-'; rename the tool" + hint,
            )

    def _validate_description(self) -> None:
        if not isinstance(self.description, str) or not self.description.strip():
            raise self._fail("description", "must be a non-empty string saying what the tool does")
        if len(self.description) > MAX_DESCRIPTION_LENGTH:
            raise self._fail(
                "description",
                f"is {len(self.description)} characters; shorten it to at most {MAX_DESCRIPTION_LENGTH}",
            )

    def _validate_optional_fields(self) -> None:
        if self.returns is not None and not isinstance(self.returns, dict):
            raise self._fail(
                "returns", f"must be a JSON Schema object or null, got {_type_name(self.returns)}"
            )
        if not isinstance(self.examples, tuple):
            raise self._fail("examples", f"must be a list of objects, got {_type_name(self.examples)}")
        for i, example in enumerate(self.examples):
            if not isinstance(example, dict):
                raise self._fail(
                    f"examples[{i}]",
                    'must be an object like {"request": "...", "arguments": {...}}, '
                    f"got {_type_name(example)}",
                )
        if not isinstance(self.tags, tuple) or not all(isinstance(t, str) for t in self.tags):
            raise self._fail("tags", "must be a list of strings")
        if self.backend not in BACKEND_KINDS:
            raise self._fail("backend", f"is {self.backend!r}; use one of {', '.join(BACKEND_KINDS)}")
        if self.title is not None and not isinstance(self.title, str):
            raise self._fail("title", f"must be a string or null, got {_type_name(self.title)}")
        if not isinstance(self.backend_config, dict):
            raise self._fail("backend_config", f"must be an object, got {_type_name(self.backend_config)}")
        config_problem = backend_config_problem(self.backend, self.backend_config)
        if config_problem is not None:
            raise self._fail(*config_problem)

    def to_dict(self) -> dict[str, Any]:
        """A plain JSON-able dict in our catalog format; empty optional fields are left out."""
        return copy.deepcopy(self._plain())

    def _plain(self) -> dict[str, Any]:
        # Shares nested objects with the tool: only for read-only use (hashing, deep-copying).
        data: dict[str, Any] = {"name": self.name}
        if self.title is not None:
            data["title"] = self.title
        data["description"] = self.description
        data["parameters"] = self.parameters
        if self.returns is not None:
            data["returns"] = self.returns
        if self.examples:
            data["examples"] = list(self.examples)
        if self.tags:
            data["tags"] = list(self.tags)
        data["backend"] = self.backend
        if self.backend_config:
            data["backend_config"] = self.backend_config
        return data

    @cached_property
    def content_hash(self) -> str:
        """sha256 hex of the canonical JSON of ``to_dict()``: stable across processes and key order."""
        canonical = json.dumps(self._plain(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Tool:
        """Build a Tool from our catalog format; unknown keys and wrong types raise ToolValidationError."""
        if not isinstance(data, Mapping):
            raise ToolValidationError("?", "<tool>", f"must be an object (mapping), got {_type_name(data)}")
        raw_name = data.get("name")
        name = raw_name if isinstance(raw_name, str) else "?"
        unknown = [str(key) for key in data if key not in TOOL_KEYS]
        if unknown:
            raise ToolValidationError(
                name, unknown[0], f"unknown key; valid keys are: {', '.join(TOOL_KEYS)}"
            )
        for required in ("name", "description"):
            if required not in data:
                raise ToolValidationError(
                    name, required, "is missing; every tool needs a name and a description"
                )
        return cls(
            name=_expect(name, data, "name", str),
            description=_expect(name, data, "description", str),
            parameters=_mapping(name, data, "parameters") or empty_parameters(),
            returns=_mapping(name, data, "returns"),
            examples=tuple(_sequence(name, data, "examples")),
            tags=tuple(_sequence(name, data, "tags")),
            backend=_expect(name, data, "backend", str, default="none"),
            title=_expect(name, data, "title", str, default=None),
            backend_config=_mapping(name, data, "backend_config") or {},
        )


def _expect(tool: str, data: Mapping[str, Any], key: str, kind: type, default: Any = ...) -> Any:
    value = data.get(key, default)
    if value is ...:
        raise ToolValidationError(tool, key, "is missing")
    if value is not default and not isinstance(value, kind):
        raise ToolValidationError(tool, key, f"must be a {kind.__name__}, got {_type_name(value)}")
    return value


def _mapping(tool: str, data: Mapping[str, Any], key: str) -> dict[str, Any] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise ToolValidationError(tool, key, f"must be an object, got {_type_name(value)}")
    return dict(value)


def _sequence(tool: str, data: Mapping[str, Any], key: str) -> list[Any]:
    value = data.get(key)
    if value is None:
        return []
    if not isinstance(value, list | tuple):
        raise ToolValidationError(tool, key, f"must be a list, got {_type_name(value)}")
    return [dict(item) if isinstance(item, Mapping) else item for item in value]


def _validate_parameters(tool: str, schema: object) -> None:
    """Check the top level of a parameters schema; nested schemas are the caller's business."""
    if not isinstance(schema, dict):
        raise ToolValidationError(
            tool,
            "parameters",
            f'must be a JSON Schema like {{"type": "object", ...}}, got {_type_name(schema)}',
        )
    if schema.get("type") != "object":
        got = "is missing" if "type" not in schema else f"is {schema['type']!r}"
        raise ToolValidationError(tool, "parameters.type", f'{got}; tool parameters must be "type": "object"')
    properties = schema.get("properties", {})
    if not isinstance(properties, dict):
        raise ToolValidationError(
            tool,
            "parameters.properties",
            f"must map parameter names to schemas, got {_type_name(properties)}",
        )
    for prop, prop_schema in properties.items():
        if not isinstance(prop_schema, dict):
            raise ToolValidationError(
                tool,
                f"parameters.properties.{prop}",
                f'must be a JSON Schema object (e.g. {{"type": "string"}}), got {_type_name(prop_schema)}',
            )
    if "required" in schema:
        required = schema["required"]
        if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
            raise ToolValidationError(tool, "parameters.required", "must be a list of property names")
        missing = [r for r in required if r not in properties]
        if missing:
            raise ToolValidationError(
                tool,
                "parameters.required",
                f"names {', '.join(map(repr, missing))} which are not in parameters.properties; "
                "add them there or drop them from required",
            )


class Catalog:
    """An immutable, ordered set of tools with unique names."""

    __slots__ = ("__weakref__", "_by_name", "_hash", "_tools")

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        by_name: dict[str, Tool] = {}
        for i, tool in enumerate(tools):
            if not isinstance(tool, Tool):
                raise CatalogError(f"catalog entry {i} must be a Tool, got {_type_name(tool)}")
            if tool.name in by_name:
                raise CatalogError(
                    f"duplicate tool name {tool.name!r}: tool names must be unique; rename one"
                )
            by_name[tool.name] = tool
        self._by_name = by_name
        self._tools = tuple(by_name.values())
        self._hash: str | None = None

    def __len__(self) -> int:
        return len(self._tools)

    def __iter__(self) -> Iterator[Tool]:
        return iter(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __repr__(self) -> str:
        return f"Catalog({len(self)} tools, hash={self.catalog_hash[:12]})"

    def get(self, name: str) -> Tool:
        """The tool called ``name``; ToolNotFoundError suggests close names when there is none."""
        tool = self._by_name.get(name)
        if tool is not None:
            return tool
        close = self.close_names(name)
        hint = (
            f"did you mean {', '.join(map(repr, close))}?" if close else "see Catalog.names for the full list"
        )
        raise ToolNotFoundError(f"no tool named {name!r} in the catalog ({len(self)} tools); {hint}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._by_name)

    @property
    def tools(self) -> tuple[Tool, ...]:
        return self._tools

    @property
    def catalog_hash(self) -> str:
        """sha256 over the sorted tool content hashes: equal for the same tools in any order."""
        if self._hash is None:
            joined = "\n".join(sorted(tool.content_hash for tool in self._tools))
            self._hash = hashlib.sha256(joined.encode("ascii")).hexdigest()
        return self._hash

    def filter(self, tags: Iterable[str] | None = None, backend: str | None = None) -> Catalog:
        """Tools that carry ANY of ``tags`` (when given) and use ``backend`` (when given)."""
        if backend is not None and backend not in BACKEND_KINDS:
            raise CatalogError(f"unknown backend {backend!r}; use one of {', '.join(BACKEND_KINDS)}")
        wanted = None if tags is None else ({tags} if isinstance(tags, str) else set(tags))
        return Catalog(
            tool
            for tool in self._tools
            if (wanted is None or wanted.intersection(tool.tags))
            and (backend is None or tool.backend == backend)
        )

    def close_names(self, name: str, n: int = 5) -> list[str]:
        """Names like ``name``, for "did you mean" hints."""
        import difflib

        return difflib.get_close_matches(name, self._by_name, n=n, cutoff=0.6)

    def find(self, name: str) -> Tool | None:
        """The tool called ``name``, or None."""
        return self._by_name.get(name)

    def with_tools(self, tools: Iterable[Tool]) -> Catalog:
        """A new catalog with ``tools`` added; a tool with an existing name replaces it in place."""
        merged = dict(self._by_name)
        for tool in tools:
            if not isinstance(tool, Tool):
                raise CatalogError(f"with_tools takes Tool objects, got {_type_name(tool)}")
            merged[tool.name] = tool
        return Catalog(merged.values())

    def without(self, name: str) -> Catalog:
        """A new catalog without the tool ``name``; ToolNotFoundError when it is not there."""
        self.get(name)
        return Catalog(tool for tool in self._tools if tool.name != name)
