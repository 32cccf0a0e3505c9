"""The process-wide Services: built from the environment on first use, replaceable in tests."""

from __future__ import annotations

import logging
import threading

from toolweaver.errors import ToolWeaverError
from toolweaver.observability import analytics, logs
from toolweaver.services import Services
from toolweaver.settings import Settings

log = logging.getLogger(__name__)


class ProcessServices:
    """The process's one Services: built from the environment on first use, swappable in tests.

    The worker imports function_app.py once and calls its functions on many threads; they all
    share what this holds (model, index, clients, the execution loop).
    """

    def __init__(self) -> None:
        self._current: Services | None = None
        self._lock = threading.Lock()

    def get(self) -> Services:
        current = self._current
        if current is None:
            with self._lock:
                current = self._current
                if current is None:
                    settings = Settings.from_env()
                    start_operations(settings)
                    current = self._current = Services(settings)
        return current

    def use(self, replacement: Services | None) -> None:
        """Swap the Services (tests); None makes the next get() build a fresh one."""
        with self._lock:
            self._current = replacement


PROCESS = ProcessServices()  # the functions are module-level, as the v2 programming model wants


def services() -> Services:
    return PROCESS.get()


def start_operations(settings: Settings) -> None:
    """Once per process: log format and context ids, then the analytics backend and its traces.

    The push backends (otlp, azuremonitor) import the OpenTelemetry SDK and their exporter, about
    0.4 s, so they start on a thread: neither the worker's import of the app nor the first request
    waits. Metrics counted meanwhile are in the registry and reach the backend with its first push;
    only spans of the requests answered before it is up are not recorded.
    A backend that cannot start (a bad collector URL, a missing package) is logged, not raised:
    the API keeps serving without it, and health names the backend in use.
    """
    logs.configure(settings.log_format)
    if settings.analytics_backend in ("otlp", "azuremonitor"):
        threading.Thread(
            target=_start_analytics, args=(settings,), name="toolweaver-analytics-start", daemon=True
        ).start()
    else:
        _start_analytics(settings)


def _start_analytics(settings: Settings) -> None:
    try:
        analytics.start(settings)
    except ToolWeaverError as exc:
        log.error("analytics backend %s not started: %s", settings.analytics_backend, exc)


def use(replacement: Services | None) -> None:
    """Swap the process-wide Services (tests); None makes the next call build a fresh one."""
    PROCESS.use(replacement)


def prewarm_if_enabled() -> None:
    """Called as the worker loads the app: with PREWARM=true, start loading model and index."""
    try:
        enabled = services().settings.prewarm
    except ToolWeaverError as exc:  # a bad setting must not stop the app from indexing its functions
        log.error("settings are invalid, not prewarming: %s", exc)
        return
    if enabled:
        prewarm_in_background()


def prewarm_in_background() -> threading.Thread:
    """PREWARM=true: load model and index on a thread as the worker starts, without delaying it."""

    def run() -> None:
        try:
            services().prewarm()
        except Exception:  # a failed prewarm only means the first request loads
            log.exception("prewarm failed; the first search will load the model instead")

    thread = threading.Thread(target=run, name="toolweaver-prewarm", daemon=True)
    thread.start()
    return thread
