"""Python tools: plain or async functions registered with ``@registry.tool``, run in-process.

The function's signature and docstring become the Tool: the first docstring paragraph is the
description, a Google-style ``Args:`` section describes the parameters, type hints give the JSON
Schema (see ``signature.py``). These functions are the app's own code, so they are trusted;
sync ones run in a worker thread so a slow one never blocks the event loop.

    registry = ToolRegistry()

    @registry.tool(tags=["math"])
    def add(a: float, b: float) -> float:
        '''Add two numbers.'''
        return a + b
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from toolweaver.catalog.model import Catalog, Tool
from toolweaver.execution.backends.signature import (
    parameters_schema,
    parse_docstring,
    returns_schema,
)
from toolweaver.execution.ports import JSONValue, ToolCallError

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class _Entry:
    tool: Tool
    func: Callable[..., Any]
    dates: Mapping[str, type]  # parameters that arrive as ISO strings and are parsed before the call


class ToolRegistry:
    """Named python functions and the Tools that describe them."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    @overload
    def tool(self, func: F) -> F: ...

    @overload
    def tool(
        self,
        func: None = None,
        *,
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        tags: Iterable[str] = (),
        examples: Sequence[Mapping[str, Any]] = (),
    ) -> Callable[[F], F]: ...

    def tool(  # the overloads above give callers the precise types
        self,
        func: Any = None,
        *,
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        tags: Iterable[str] = (),
        examples: Sequence[Mapping[str, Any]] = (),
    ) -> Any:
        """Register ``func`` as a tool (usable bare, ``@registry.tool``, or with options)."""

        def register(fn: F) -> F:
            self.add(fn, name=name, title=title, description=description, tags=tags, examples=examples)
            return fn

        return register(func) if func is not None else register

    def add(
        self,
        func: Callable[..., Any],
        *,
        name: str | None = None,
        title: str | None = None,
        description: str | None = None,
        tags: Iterable[str] = (),
        examples: Sequence[Mapping[str, Any]] = (),
    ) -> Tool:
        """Register ``func``; TypeError/ValueError at once for a signature JSON Schema cannot describe."""
        docs = parse_docstring(func.__doc__)
        tool_name = name or func.__name__
        if tool_name in self._entries:
            raise ValueError(f"a python tool named {tool_name!r} is already registered")
        text = description or docs.description
        if not text:
            raise ValueError(
                f"{func.__qualname__}: give the tool a docstring (its first paragraph describes it)"
            )
        tool = Tool(
            name=tool_name,
            title=title,
            description=text,
            parameters=parameters_schema(func, docs),
            returns=returns_schema(func),
            examples=tuple(dict(example) for example in examples),
            tags=tuple(tags),
            backend="python",
        )
        self._entries[tool_name] = _Entry(tool, func, _date_parameters(func))
        return tool

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def tools(self) -> tuple[Tool, ...]:
        return tuple(entry.tool for entry in self._entries.values())

    def catalog(self) -> Catalog:
        """The registered tools (backend "python"), in registration order."""
        return Catalog(self.tools)

    def function(self, name: str) -> Callable[..., Any]:
        return self._entry(name).func

    def _entry(self, name: str) -> _Entry:
        entry = self._entries.get(name)
        if entry is None:
            raise _not_registered(name)
        return entry

    def backend(self) -> PythonBackend:
        return PythonBackend(self)


class PythonBackend:
    """Backend for tools with backend "python": looks the function up by tool name and calls it.

    Never imports code named by a catalog entry: only functions registered in this process run.
    ValueError and ArithmeticError raised by a tool are its way of rejecting input; their message
    goes back to the caller. Other exceptions are bugs and reach the executor as backend errors.
    """

    def __init__(self, *registries: ToolRegistry) -> None:
        self._registries = registries

    async def call(self, tool: Tool, arguments: dict[str, Any]) -> JSONValue:
        entry = self._find(tool.name)
        kwargs = _parse_dates(tool.name, entry.dates, arguments)
        try:
            if inspect.iscoroutinefunction(entry.func):
                result = await entry.func(**kwargs)
            else:
                # The thread cannot be stopped on timeout: python tools must not block forever.
                result = await asyncio.to_thread(entry.func, **kwargs)
        except (ValueError, ArithmeticError) as exc:
            raise ToolCallError(tool.name, str(exc) or type(exc).__name__, kind="error") from exc
        return to_json(result)

    def _find(self, name: str) -> _Entry:
        for registry in self._registries:
            if name in registry:
                return registry._entry(name)
        raise _not_registered(name)


def _not_registered(name: str) -> ToolCallError:
    return ToolCallError(
        name,
        "no python function is registered under this name in this app; the catalog entry describes "
        "a tool this deployment cannot run",
        kind="not_found",
    )


def _date_parameters(func: Callable[..., Any]) -> dict[str, type]:
    hints = typing.get_type_hints(func)
    return {
        name: hint
        for name, hint in hints.items()
        if name != "return" and isinstance(hint, type) and issubclass(hint, dt.date)
    }


def _parse_dates(tool: str, dates: Mapping[str, type], arguments: dict[str, Any]) -> dict[str, Any]:
    if not dates:
        return arguments
    kwargs = dict(arguments)
    for name, kind in dates.items():
        value = kwargs.get(name)
        if isinstance(value, str):
            try:
                kwargs[name] = kind.fromisoformat(value)  # type: ignore[attr-defined]
            except ValueError:
                raise ToolCallError(
                    tool, f"invalid arguments: $.{name}: must be an ISO 8601 date", kind="invalid_arguments"
                ) from None
    return kwargs


def to_json(value: Any) -> JSONValue:
    """Plain JSON from what python tools commonly return: tuples, sets, dates, nested mappings."""
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if isinstance(value, dt.date):  # datetime is a date too
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): to_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_json(item) for item in value]
    raise TypeError(f"a python tool returned {type(value).__name__}, which is not JSON")
