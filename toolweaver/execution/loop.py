"""One background event loop per process for execution, used from synchronous code.

Azure Functions calls our synchronous handlers on worker threads. Tool backends keep pooled
clients and semaphores per event loop, so giving every request a fresh loop would rebuild them
each time; instead all execution runs on this one loop and callers wait for their result.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: list[asyncio.AbstractEventLoop] = []


def _background_loop() -> asyncio.AbstractEventLoop:
    with _lock:
        if not _loop or _loop[0].is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="toolweaver-execution", daemon=True).start()
            _loop[:] = [loop]
        return _loop[0]


def run_sync(coroutine: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run ``coroutine`` on the execution loop and wait for it (from any thread but that loop's)."""
    future = asyncio.run_coroutine_threadsafe(coroutine, _background_loop())
    try:
        return future.result(timeout)
    except TimeoutError:
        future.cancel()
        raise
