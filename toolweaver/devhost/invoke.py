"""Call a function the way the Python worker does: sync functions on a thread pool, async ones awaited.

The pool is created once and shared by every trigger. Its size follows the worker's
``PYTHON_THREADPOOL_THREAD_COUNT`` (unset: Python's default, min(32, CPUs + 4)).
"""

from __future__ import annotations

import asyncio
import functools
import threading
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import azure.functions as func
from azure.functions._abc import RetryContext, TraceContext  # not re-exported by the package

from toolweaver.devhost.loader import CONTEXT_ARG, FunctionSpec
from toolweaver.errors import ConfigError

THREAD_COUNT_SETTING = "PYTHON_THREADPOOL_THREAD_COUNT"
MAX_THREADS = 32  # the worker's upper bound for the setting


def thread_count(settings: Mapping[str, str]) -> int | None:
    raw = (settings.get(THREAD_COUNT_SETTING) or "").strip()
    if not raw:
        return None
    try:
        count = int(raw)
    except ValueError:
        raise ConfigError(f"{THREAD_COUNT_SETTING} must be a whole number, got {raw!r}") from None
    if not 1 <= count <= MAX_THREADS:
        raise ConfigError(f"{THREAD_COUNT_SETTING} must be between 1 and {MAX_THREADS}, got {count}")
    return count


class _TraceContext(TraceContext):
    def __init__(self, trace_parent: str) -> None:
        self._parent = trace_parent

    @property
    def trace_state(self) -> str:
        return ""

    @property
    def trace_parent(self) -> str:
        return self._parent

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class _RetryContext(RetryContext):
    @property
    def retry_count(self) -> int:
        return 0

    @property
    def max_retry_count(self) -> int:
        return 0

    @property
    def exception(self) -> Any:
        return None


class InvocationContext(func.Context):
    """The ``context`` argument: invocation id, function name and folder, a fresh trace parent."""

    _local = threading.local

    def __init__(self, spec: FunctionSpec) -> None:
        self._id = str(uuid.uuid4())
        self._spec = spec
        self._trace = _TraceContext(f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01")

    @property
    def invocation_id(self) -> str:
        return self._id

    @property
    def thread_local_storage(self) -> type[threading.local]:
        return self._local

    @property
    def function_name(self) -> str:
        return self._spec.name

    @property
    def function_directory(self) -> str:
        return str(self._spec.directory)

    @property
    def trace_context(self) -> TraceContext:
        return self._trace

    @property
    def retry_context(self) -> RetryContext:
        return _RetryContext()


class Invoker:
    def __init__(self, max_workers: int | None = None) -> None:
        self.executor = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="devhost-worker")

    async def call(self, spec: FunctionSpec, trigger_value: object) -> Any:
        """Run one invocation; the function's exception propagates to the caller."""
        kwargs: dict[str, Any] = {spec.arg_name: trigger_value}
        if spec.wants_context:
            kwargs[CONTEXT_ARG] = InvocationContext(spec)
        if spec.is_async:
            return await spec.func(**kwargs)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, functools.partial(spec.func, **kwargs))

    def shutdown(self) -> None:
        # Running sync functions cannot be interrupted; queued ones are dropped (their messages
        # come back after the visibility timeout).
        self.executor.shutdown(wait=False, cancel_futures=True)
