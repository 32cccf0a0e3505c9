"""Structured logging: every record carries the request id, job id and trace id of its work.

The library only uses module loggers. The app calls :func:`configure` once: a log record factory
adds ``request_id``, ``job_id`` and ``trace_id`` to every record, and:

- the process's own stream handlers (the dev host, the CLI) write ``LOG_FORMAT`` lines: one JSON
  object each, or plain text with the ids in brackets;
- a handler that forwards records elsewhere and has no formatter of its own (the Functions
  worker's, which sends the host only a record's formatted message, level and logger name) gets
  the ids written into the message text, so they reach Application Insights;
- with the ``azuremonitor`` backend, :meth:`LogSetup.export_through` sends the app's records to
  Application Insights through OpenTelemetry, the ids as custom dimensions, and the forwarding
  handlers stop sending those records a second time.

The Azure SDK logs every storage request's URL and headers at INFO; :func:`quiet_sdk_loggers`
(called when the Functions package is imported) keeps those loggers at WARNING.
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
# Loggers that write secrets-adjacent detail (request URLs, headers, token acquisition) at INFO.
SDK_LOGGERS = (
    "azure",
    "azure.core.pipeline.policies.http_logging_policy",
    "azure.identity",
    "azure.storage",
    "azure.monitor.opentelemetry.exporter",
    "msal",
    "urllib3",
)
APP_LOGGER = "toolweaver"


def quiet_sdk_loggers() -> None:
    """The Azure SDK's loggers at WARNING: their INFO records are each request's URL and headers."""
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


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

    make.adds_context = True  # type: ignore[attr-defined]
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
        ids = " ".join(f"{name}={value}" for name in _CONTEXT_FIELDS if (value := getattr(record, name, "")))
        return f"{line} [{ids}]" if ids else line


def context_text(record: logging.LogRecord) -> str:
    """``request_id=... job_id=... trace_id=...`` for the ids a record carries ('' when none)."""
    return " ".join(f"{name}={value}" for name in _CONTEXT_FIELDS if (value := getattr(record, name, "")))


class ForwardedFormatter(logging.Formatter):
    """For handlers that pass only the message on (the Functions worker's): the ids in the text."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        ids = context_text(record)
        return f"{text} [{ids}]" if ids else text


class _NotExported(logging.Filter):
    """On forwarding handlers once the app's records are exported through OpenTelemetry."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name == APP_LOGGER or record.name.startswith(APP_LOGGER + "."))


def formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


class LogSetup:
    """What :func:`configure` did to the process's logging, so a second call changes only what differs."""

    def __init__(self) -> None:
        self.log_format: str | None = None
        self.forwarding: list[logging.Handler] = []  # handlers given ForwardedFormatter
        self.exporter: logging.Handler | None = None
        self._not_exported = _NotExported()

    def configure(self, log_format: str, root: logging.Logger | None = None) -> None:
        """Install the context record factory (once) and format the root logger's handlers."""
        root = root or logging.getLogger()
        factory = logging.getLogRecordFactory()
        if not getattr(factory, "adds_context", False):
            logging.setLogRecordFactory(_with_context(factory))
        for handler in root.handlers:
            if type(handler) is logging.StreamHandler:
                # Ours or basicConfig's: the process's own lines.
                if self.log_format != log_format or handler.formatter is None:
                    handler.setFormatter(formatter(log_format))
            elif handler.formatter is None and handler is not self.exporter:
                # A forwarding handler (the Functions worker's): only its message text travels.
                handler.setFormatter(ForwardedFormatter())
                self.forwarding.append(handler)
                if self.exporter is not None:
                    handler.addFilter(self._not_exported)
        self.log_format = log_format

    def export_through(self, handler: logging.Handler | None) -> None:
        """Send the app's records through ``handler`` (None: stop) instead of the forwarding handlers."""
        app = logging.getLogger(APP_LOGGER)
        if self.exporter is not None:
            app.removeHandler(self.exporter)
        self.exporter = handler
        for forwarding in self.forwarding:
            if handler is None:
                forwarding.removeFilter(self._not_exported)
            else:
                forwarding.addFilter(self._not_exported)
        if handler is not None:
            app.addHandler(handler)


SETUP = LogSetup()  # the process's logging is one thing: the worker owns the root logger


def configure(log_format: str) -> None:
    """Install the context record factory (once) and format the process's handlers (see LogSetup)."""
    SETUP.configure(log_format)
