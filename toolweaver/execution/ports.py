"""The seams between execution parts. Backends, the plan runner and the sandbox meet here only.

    ToolInvoker   runs one catalog tool by name with JSON arguments (validated, timed, counted)
    CodeRunner    runs one untrusted program whose only way out is a ToolInvoker

Values crossing these seams are plain JSON (dict, list, str, int, float, bool, None).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from toolweaver.errors import ToolWeaverError

JSONValue = Any  # what json.loads returns
RunStatus = Literal["succeeded", "error", "timeout", "killed", "rejected"]


class ToolCallError(ToolWeaverError):
    """A tool call failed. ``retryable`` says whether trying again may help (timeouts, 429, 5xx)."""

    def __init__(self, tool: str, message: str, *, retryable: bool = False, kind: str = "error") -> None:
        self.tool = tool
        self.retryable = retryable
        self.kind = kind  # "invalid_arguments" | "not_found" | "timeout" | "limit" | "backend" | "error"
        super().__init__(f"tool {tool!r}: {message}")


@dataclass(frozen=True)
class ToolCallRecord:
    """One call as it is reported back to the caller of a run or plan."""

    tool: str
    arguments: dict[str, JSONValue]
    ok: bool
    duration_ms: float
    error: str | None = None


class ToolInvoker(Protocol):
    async def invoke(self, name: str, arguments: dict[str, JSONValue]) -> JSONValue:
        """Run tool ``name``; returns its JSON result or raises ToolCallError."""
        ...


@dataclass(frozen=True)
class RunLimits:
    timeout_s: float = 10.0  # wall clock, whatever the program does
    max_tool_calls: int = 50
    max_output_bytes: int = 256 * 1024  # result and stdout, each
    memory_mb: int = 256  # address space of the child
    cpu_s: int = 10  # CPU seconds of the child


@dataclass(frozen=True)
class RunOutcome:
    status: RunStatus
    result: JSONValue = None
    stdout: str = ""
    error: str | None = None  # the reason, for every status but "succeeded"
    tool_calls: Sequence[ToolCallRecord] = field(default_factory=tuple)
    duration_ms: float = 0.0


class CodeRunner(Protocol):
    async def run(
        self, code: str, *, tools: ToolInvoker, tool_names: Sequence[str], limits: RunLimits
    ) -> RunOutcome:
        """Run ``code`` isolated; each name in ``tool_names`` is an async function in the program
        that calls ``tools.invoke``. Never raises for anything the program does."""
        ...
