"""One background event loop per process for execution, used from synchronous code.

Azure Functions calls our synchronous handlers on worker threads. Tool backends keep pooled
clients and semaphores per event loop, so giving every request a fresh loop would rebuild them
each time; instead all execution runs on this one loop and callers wait for their result.

A wait never outlasts the deadline the calling face bound (:mod:`toolweaver.execution.budget`):
past it the work is cancelled and the caller gets a DeadlineExceededError, which jobs record as
failed and HTTP answers as 504.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from toolweaver.errors import DeadlineExceededError
from toolweaver.execution import budget

T = TypeVar("T")


class ExecutionLoop:
    """An event loop on a daemon thread, started on first use (again if it was closed)."""

    def __init__(self, name: str = "toolweaver-execution") -> None:
        self.name = name
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name=self.name, daemon=True).start()
                self._loop = loop
            return self._loop

    def run_sync(self, coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run ``coroutine`` here and wait for it, at most ``timeout`` s and never past the deadline."""
        left = budget.remaining()
        limit = timeout if left is None else left if timeout is None else min(timeout, left)
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop())
        try:
            return future.result(limit)
        except TimeoutError:
            future.cancel()  # the task is cancelled on the loop: its sandbox child is killed
            by_deadline = left is not None and (timeout is None or left < timeout)
            raise DeadlineExceededError(_message(limit or 0.0, by_deadline), seconds=limit or 0.0) from None


def _message(seconds: float, by_deadline: bool) -> str:
    if by_deadline:
        return (
            f"the work was stopped after {seconds:.0f} s, the time left of this invocation's budget "
            "(from functionTimeout in host.json, or the HTTP limit): queue longer work as a job "
            "(POST /api/jobs), or give it a smaller timeout_s"
        )
    return f"the work did not finish within {seconds:.0f} s and was stopped"


EXECUTION = ExecutionLoop()  # one per process: backends pool their clients per loop


def run_sync(coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run ``coroutine`` on the process's execution loop and wait (see ExecutionLoop.run_sync)."""
    return EXECUTION.run_sync(coroutine, timeout)
