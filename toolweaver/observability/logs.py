"""Structured logging: every record carries the request id and job id of the work it belongs to.

The library only uses module loggers. The app calls :func:`configure` once: a log record factory
adds ``request_id``, ``job_id`` and ``trace_id`` to every record (so any handler, the Functions
worker's included, can use them), and with ``LOG_FORMAT=json`` the process's own stream handlers
write one JSON object per line. The Functions worker's handler is left as it is: it ships records
to the host, which forwards them to Application Insights.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import random
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from toolweaver.observability.tracing import current_trace_id

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("toolweaver_request_id", default="")
JOB_ID: contextvars.ContextVar[str] = contextvars.ContextVar("toolweaver_job_id", default="")
# What a caller may send as X-Request-Id: short and plain, so it is safe in logs and headers.
_CALLER_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_CONTEXT_FIELDS = ("request_id", "job_id", "trace_id")
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_configured: dict[str, object] = {}


def request_id_from(header: str | None) -> str:
    """The caller's X-Request-Id when it is a plain token, else a new id."""
    if header and _CALLER_ID.fullmatch(header):
        return header
    # An identifier, not a secret: the Mersenne Twister is enough and, unlike os.urandom, makes
    # no system call (which also releases the GIL to any busy thread, e.g. a span exporter).
    return f"{random.getrandbits(128):032x}"  # nosec B311


@contextlib.contextmanager
def bound(var: contextvars.ContextVar[str], value: str) -> Iterator[str]:
    """Set a context id for the duration of a block (a request or a job)."""
    token = var.set(value)
    try:
        yield value
    finally:
        var.reset(token)


def _with_context(factory: Callable[..., logging.LogRecord]) -> Callable[..., logging.LogRecord]:
    def make(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        record.request_id = REQUEST_ID.get()
        record.job_id = JOB_ID.get()
        record.trace_id = current_trace_id()
        return record

    return make


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the context ids, and any extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _CONTEXT_FIELDS:
            value = getattr(record, name, "")
            if value:
                entry[name] = value
        for name, value in vars(record).items():
            if name not in _STANDARD and name not in _CONTEXT_FIELDS and not name.startswith("_"):
                entry[name] = value if isinstance(value, (str, int, float, bool)) else repr(value)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """Plain lines, with the request or job id in brackets when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        ids = " ".join(
            f"{name}={value}" for name in ("request_id", "job_id") if (value := getattr(record, name, ""))
        )
        return f"{line} [{ids}]" if ids else line


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure(log_format: str) -> None:
    """Install the context record factory (once) and format the process's own stream handlers."""
    if "factory" not in _configured:
        _configured["factory"] = logging.getLogRecordFactory()
        logging.setLogRecordFactory(_with_context(logging.getLogRecordFactory()))
    if _configured.get("format") == log_format:
        return
    _configured["format"] = log_format
    for handler in logging.getLogger().handlers:
        # Only plain stream handlers (ours, basicConfig's): the Functions worker's handler
        # forwards records to the host and keeps its own format.
        if type(handler) is logging.StreamHandler:
            handler.setFormatter(formatter(log_format))
