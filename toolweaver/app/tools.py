"""Catalog tools one at a time: describe them, call one through the executor, summarize the catalog."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from toolweaver.execution.loop import run_sync
from toolweaver.execution.ports import JSONValue

if TYPE_CHECKING:
    from toolweaver.catalog.model import Catalog, Tool
    from toolweaver.execution.service import ExecutionService

MAIN_TAGS = 8
_GRACE_SECONDS = 5.0  # the executor enforces TOOL_TIMEOUT; this only guards the wait


@dataclass(frozen=True)
class CatalogSummary:
    """What a client is told the catalog holds: its size and most common tags."""

    version: str  # the catalog hash: changes whenever any tool changes
    size: int
    main_tags: tuple[tuple[str, int], ...]  # (tag, tools with it), most common first
    backends: tuple[str, ...]


def describe(tool: Tool) -> dict[str, Any]:
    """Everything a caller needs to call ``tool`` well: both schemas and the examples."""
    return {
        "name": tool.name,
        "title": tool.title,
        "description": tool.description,
        "input_schema": tool.parameters,
        "output_schema": tool.returns,
        "examples": list(tool.examples),
        "tags": list(tool.tags),
        "backend": tool.backend,
    }


class CatalogTools:
    """The current catalog, tool by tool, and calls of one tool through the executor.

    A call goes through ``ExecutionService.executor``: the same lookup, argument check, backend
    (with its egress and secret rules), timeout, size cap and metrics as a call from a program or
    a plan. A failed call raises ToolCallError, whose ``kind`` and message are for the caller.
    """

    def __init__(
        self,
        catalog: Callable[[], Catalog],
        execution: Callable[[], ExecutionService],
        *,
        tool_timeout: float,
    ) -> None:
        self._catalog = catalog
        self._execution = execution
        self.tool_timeout = tool_timeout
        self._summary: CatalogSummary | None = None

    def find(self, names: Iterable[str]) -> tuple[list[Tool], list[str]]:
        """The tools of ``names`` that exist, in the order asked (duplicates once), and the others."""
        catalog = self._catalog()
        found: dict[str, Tool] = {}
        missing: list[str] = []
        for name in names:
            tool = catalog.find(name)
            if tool is not None:
                found.setdefault(name, tool)
            elif name not in missing:
                missing.append(name)
        return list(found.values()), missing

    def close_names(self, name: str) -> list[str]:
        return self._catalog().close_names(name)

    def call(self, name: str, arguments: dict[str, JSONValue]) -> tuple[JSONValue, float]:
        """The tool's result and the milliseconds the call took; ToolCallError when it fails."""
        executor = self._execution().executor
        started = time.perf_counter()
        result = run_sync(executor.invoke(name, arguments), self.tool_timeout + _GRACE_SECONDS)
        return result, (time.perf_counter() - started) * 1000

    def summary(self) -> CatalogSummary:
        """Size and main tags of the current catalog, counted once per catalog version."""
        catalog = self._catalog()
        known = self._summary
        if known is not None and known.version == catalog.catalog_hash:
            return known
        tags = Counter(tag for tool in catalog.tools for tag in tool.tags)
        backends = sorted({tool.backend for tool in catalog.tools})
        self._summary = CatalogSummary(
            catalog.catalog_hash, len(catalog), tuple(tags.most_common(MAIN_TAGS)), tuple(backends)
        )
        return self._summary
