"""ToolExecutor: the one ToolInvoker that runs catalog tools through their backends.

Every call is looked up, validated against the tool's JSON Schema (Draft 2020-12), limited in
concurrency, timed out, size-capped and counted, whatever backend serves it. Records of calls
are kept per run by a ToolSession, so runs that share one executor never mix their records.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
import weakref
from collections.abc import Callable, Mapping

from toolweaver.catalog.model import Catalog, Tool
from toolweaver.errors import ToolNotFoundError
from toolweaver.execution.backends.base import Backend
from toolweaver.execution.ports import JSONValue, ToolCallError, ToolCallRecord, ToolInvoker
from toolweaver.execution.validation import check_arguments
from toolweaver.observability import tracing
from toolweaver.observability.metrics import TOOL_CALLS, TOOL_LATENCY
from toolweaver.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024


class ToolExecutor:
    """Runs catalog tools by name; implements ToolInvoker.

    ``catalog`` is a Catalog or a function returning the current one (the catalog store's view
    changes while the process lives). ``backends`` maps a Tool.backend kind to its Backend.
    """

    def __init__(
        self,
        catalog: Catalog | Callable[[], Catalog],
        backends: Mapping[str, Backend],
        *,
        max_concurrent: int = 8,
        timeout_s: float = 30.0,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
    ) -> None:
        if max_concurrent < 1 or timeout_s <= 0 or max_response_bytes < 1:
            raise ValueError("max_concurrent, timeout_s and max_response_bytes must be positive")
        self._catalog = catalog
        self._backends = dict(backends)
        self.max_concurrent = max_concurrent
        # One semaphore per event loop: an asyncio primitive is bound to the loop that first waits
        # on it, and a process may run several loops one after another (CLI runs, tests).
        self._semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )
        self.timeout_s = timeout_s
        self.max_response_bytes = max_response_bytes

    @classmethod
    def from_settings(
        cls, catalog: Catalog | Callable[[], Catalog], backends: Mapping[str, Backend], settings: Settings
    ) -> ToolExecutor:
        """An executor with MAX_CONCURRENT_TOOLS, TOOL_TIMEOUT and MAX_TOOL_RESPONSE_BYTES applied."""
        return cls(
            catalog,
            backends,
            max_concurrent=settings.max_concurrent_tools,
            timeout_s=settings.tool_timeout,
            max_response_bytes=settings.max_tool_response_bytes,
        )

    @property
    def catalog(self) -> Catalog:
        return self._catalog if isinstance(self._catalog, Catalog) else self._catalog()

    def session(self) -> ToolSession:
        """A ToolInvoker over this executor that keeps the records of one run's calls."""
        return ToolSession(self)

    async def invoke(self, name: str, arguments: dict[str, JSONValue]) -> JSONValue:
        tool = self._lookup(name)
        self.validate_arguments(tool, arguments)
        backend = self._backends.get(tool.backend)
        if backend is None:
            configured = ", ".join(sorted(self._backends)) or "none"
            raise ToolCallError(
                name,
                f"backend {tool.backend!r} cannot run tools here (configured backends: {configured})",
                kind="backend",
            )
        attributes = {"toolweaver.tool": name, "toolweaver.backend": tool.backend}
        async with self._semaphore():
            started = time.perf_counter()
            outcome = "ok"
            with tracing.span(f"tool {name}", attributes=attributes) as span:
                try:
                    result = await self._call(backend, tool, arguments)
                    self._check_size(name, result)
                    return result
                except ToolCallError as exc:
                    outcome = exc.kind
                    tracing.mark_error(span, exc.kind)
                    raise
                finally:
                    span.set_attribute("toolweaver.outcome", outcome)
                    TOOL_CALLS.labels(name, tool.backend, outcome).inc()
                    TOOL_LATENCY.labels(tool.backend).observe(time.perf_counter() - started)

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        semaphore = self._semaphores.get(loop)
        if semaphore is None:
            semaphore = self._semaphores[loop] = asyncio.Semaphore(self.max_concurrent)
        return semaphore

    def _lookup(self, name: str) -> Tool:
        try:
            return self.catalog.get(name)
        except ToolNotFoundError as exc:
            TOOL_CALLS.labels("(unknown)", "none", "not_found").inc()
            raise ToolCallError(name, str(exc), kind="not_found") from None

    async def _call(self, backend: Backend, tool: Tool, arguments: dict[str, JSONValue]) -> JSONValue:
        try:
            # A deep copy: a backend (or a python tool) that edits its arguments must not change
            # the caller's record of them.
            return await asyncio.wait_for(backend.call(tool, copy.deepcopy(arguments)), self.timeout_s)
        except ToolCallError:
            raise
        except TimeoutError:
            raise ToolCallError(
                tool.name, f"no result within {self.timeout_s:g} s", retryable=True, kind="timeout"
            ) from None
        except Exception as exc:
            # Backends convert what they expect; anything else is a bug in a backend or a tool.
            log.warning("tool %s (%s backend) raised %s", tool.name, tool.backend, type(exc).__name__)
            log.debug("tool %s failure", tool.name, exc_info=True)
            raise ToolCallError(
                tool.name, f"the {tool.backend} backend failed ({type(exc).__name__})", kind="backend"
            ) from exc

    def _check_size(self, name: str, result: JSONValue) -> None:
        try:
            encoded = json.dumps(result, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        except (TypeError, ValueError) as exc:
            raise ToolCallError(name, f"returned a value that is not JSON ({exc})", kind="backend") from None
        size = len(encoded.encode("utf-8"))
        if size > self.max_response_bytes:
            raise ToolCallError(
                name,
                f"result is {size} bytes as JSON, over the limit of {self.max_response_bytes}; "
                "ask for less (filters, paging) or raise MAX_TOOL_RESPONSE_BYTES",
                kind="limit",
            )

    def validate_arguments(self, tool: Tool, arguments: object) -> None:
        """Raise ToolCallError(kind="invalid_arguments") naming each bad field's path, never its value."""
        check_arguments(tool, arguments)


class ToolSession:
    """A ToolInvoker that records every call it forwards: one per run, so records never mix.

    Wraps any ToolInvoker (the executor, or a test fake). ``calls`` is in completion order.
    """

    def __init__(self, inner: ToolInvoker) -> None:
        self._inner = inner
        self.calls: list[ToolCallRecord] = []

    async def invoke(self, name: str, arguments: dict[str, JSONValue]) -> JSONValue:
        started = time.perf_counter()
        recorded = copy.deepcopy(arguments) if isinstance(arguments, dict) else {}
        try:
            result = await self._inner.invoke(name, arguments)
        except asyncio.CancelledError:
            self._record(name, recorded, started, "cancelled")
            raise
        except Exception as exc:
            self._record(name, recorded, started, str(exc) or type(exc).__name__)
            raise
        self._record(name, recorded, started, None)
        return result

    def _record(self, name: str, arguments: dict[str, JSONValue], started: float, error: str | None) -> None:
        duration_ms = (time.perf_counter() - started) * 1000
        self.calls.append(ToolCallRecord(name, arguments, error is None, round(duration_ms, 3), error))
