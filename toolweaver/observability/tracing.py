"""Traces: one span per HTTP request, job and tool call, continued across the job queue.

Spans come from the OpenTelemetry API. Until a backend installs a tracer provider (otlp and
azuremonitor do, see :mod:`toolweaver.observability.analytics`) the tracer is the API's no-op one,
which costs a few microseconds per span. The provider is held here rather than set globally, so
tests and several apps in one process do not fight over the global.

A job's queue message carries the W3C ``traceparent`` of the request that queued it; the queue
function continues that trace, so a request and the job it started read as one trace.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_PROPAGATOR = TraceContextTextMapPropagator()


class AppTracing:
    """The app's tracer provider and tracer (not the global ones); no-op until one is installed."""

    def __init__(self) -> None:
        self.provider: Any | None = None
        self.tracer: Any = trace.NoOpTracer()

    def install(self, provider: Any | None) -> None:
        self.provider = provider
        self.tracer = provider.get_tracer("toolweaver") if provider is not None else trace.NoOpTracer()


APP = AppTracing()  # one per process: the backend that installs it is the process's


def install(provider: Any | None) -> None:
    """Use ``provider`` for the app's spans (None: back to no-op spans)."""
    APP.install(provider)


def provider() -> Any | None:
    return APP.provider


def current_trace_id() -> str:
    """The active trace's id as 32 hex digits, or '' outside a recorded span."""
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else ""


def carrier() -> dict[str, str]:
    """The active span's context as W3C headers (empty when nothing is traced)."""
    headers: dict[str, str] = {}
    _PROPAGATOR.inject(headers)
    return headers


class _NoSpan(contextlib.AbstractContextManager[Span]):
    """What ``span`` returns while no provider is installed: no context switch, nothing recorded."""

    def __enter__(self) -> Span:
        return INVALID_SPAN

    def __exit__(self, *exc: object) -> None:
        return None


_NO_SPAN = _NoSpan()


def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, str | int] | None = None,
    parent: Mapping[str, str] | None = None,
) -> contextlib.AbstractContextManager[Span]:
    """A span around a block; ``parent`` is a W3C carrier (headers or a queue message's fields).

    An exception escaping the block marks the span as an error and is re-raised. Without a
    provider this is a shared no-op, so recording costs nothing when nothing is traced.
    """
    if APP.provider is None:
        return _NO_SPAN
    context = _PROPAGATOR.extract(parent) if parent and "traceparent" in parent else None
    return APP.tracer.start_as_current_span(  # type: ignore[no-any-return]
        name, context=context, kind=kind, attributes=attributes, record_exception=True
    )


def mark_error(current: Span, description: str) -> None:
    """An outcome that did not raise but failed (a 5xx answer, a failed tool call)."""
    current.set_status(Status(StatusCode.ERROR, description))
