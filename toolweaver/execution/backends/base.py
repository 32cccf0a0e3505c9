"""The Backend protocol and the errors backends raise beyond the plain ToolCallError."""

from __future__ import annotations

from typing import Any, Protocol

from toolweaver.catalog.model import Tool
from toolweaver.execution.ports import JSONValue, ToolCallError

EXCERPT_CHARS = 200


class Backend(Protocol):
    """Runs one tool of one backend kind. Arguments arrive already validated by the executor."""

    async def call(self, tool: Tool, arguments: dict[str, Any]) -> JSONValue:
        """The tool's JSON result; raises ToolCallError (``retryable`` where trying again may help)."""
        ...


class RetryLaterError(ToolCallError):
    """A retryable failure whose source said when to try again (HTTP ``Retry-After``, in seconds).

    The plan runner waits ``retry_after`` (capped) instead of its own backoff when it is set.
    """

    def __init__(
        self, tool: str, message: str, *, retry_after: float | None = None, kind: str = "backend"
    ) -> None:
        super().__init__(tool, message, retryable=True, kind=kind)
        self.retry_after = retry_after


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """``text`` on one line, cut to ``limit`` characters: enough to diagnose, too short to flood logs."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
