"""The idempotency key of the tool call in progress, carried in a context variable.

The ToolInvoker port has a fixed signature (name, arguments), so the key travels beside it: the
plan runner sets it around each call (``<plan_id>:<step_id>``, the same key on every retry) and
backends that can forward it (http: the ``Idempotency-Key`` header) read it. asyncio copies the
context into every task it starts, so concurrent steps never see each other's keys.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_KEY: ContextVar[str | None] = ContextVar("toolweaver_idempotency_key", default=None)


def current_idempotency_key() -> str | None:
    """The key of the call in progress, or None outside a keyed call."""
    return _KEY.get()


@contextmanager
def idempotency_key(key: str | None) -> Iterator[None]:
    """Tool calls made inside this block carry ``key`` (None: no key)."""
    token = _KEY.set(key)
    try:
        yield
    finally:
        _KEY.reset(token)
