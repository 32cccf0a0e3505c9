"""The dev host: one asyncio loop serving the app's HTTP triggers and polling its queue triggers.

``DevHost`` is the programmatic API (``await start()`` / ``await stop()``); ``run_in_thread`` runs one
in a background thread for tests and benchmarks and hands back its URL and a ``stop()``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import os
import secrets
import signal
import threading
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from toolweaver.devhost.http_host import DEFAULT_MAX_BODY_BYTES, DEFAULT_PORT, HttpHost
from toolweaver.devhost.invoke import Invoker, thread_count
from toolweaver.devhost.loader import HTTP_TRIGGER, QUEUE_TRIGGER, WARMUP_TRIGGER, LoadedApp, load_app
from toolweaver.devhost.queue_host import DEFAULT_LEASE_SECONDS, QueueHost
from toolweaver.devhost.warmup import run_warmup
from toolweaver.errors import ConfigError

logger = logging.getLogger(__name__)

FUNCTION_KEY_SETTING = "DEVHOST_FUNCTION_KEY"
ADMIN_KEY_SETTING = "DEVHOST_ADMIN_KEY"  # the dev host's master key: admin-level functions need it
LEASE_SETTING = "DEVHOST_QUEUE_LEASE_SECONDS"


class DevHost:
    """Serve ``app_path`` (default: the repository's ``function_app.py``).

    ``settings`` are app settings: they are put into ``os.environ`` for the app (and taken back on
    stop), overriding what is there; the CLI passes the merged local.settings.json values, in which
    the process environment already won. ``port=0`` picks a free port.
    """

    def __init__(
        self,
        app_path: Path | str | None = None,
        settings: Mapping[str, str] | None = None,
        port: int = DEFAULT_PORT,
        *,
        host: str = "127.0.0.1",
        queues: bool = True,
        function_key: str | None = None,
        admin_key: str | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        threads: int | None = None,
        queue_lease_seconds: float | None = None,
        drain_seconds: float = 30.0,
    ) -> None:
        self._app_path = app_path
        self._settings = dict(settings or {})
        self._port = port
        self._host = host
        self._queues_enabled = queues
        self._function_key = function_key
        self._admin_key = admin_key
        self._max_body = max_body_bytes
        self._threads = threads
        self._lease = queue_lease_seconds
        self._drain = drain_seconds
        self._saved_env: dict[str, str | None] = {}
        self.app: LoadedApp | None = None
        self._invoker: Invoker | None = None
        self._http: HttpHost | None = None
        self._queue_host: QueueHost | None = None

    @property
    def url(self) -> str:
        if self._http is None:
            raise RuntimeError("the dev host is not started")
        return self._http.url

    @property
    def function_key(self) -> str:
        if self._function_key is None:
            raise RuntimeError("the dev host is not started")
        return self._function_key

    @property
    def admin_key(self) -> str:
        if self._admin_key is None:
            raise RuntimeError("the dev host is not started")
        return self._admin_key

    async def start(self) -> None:
        try:
            await self._start()
        except BaseException:
            await self.stop()
            raise

    async def _start(self) -> None:
        self._apply_settings()
        app = self.app = load_app(self._app_path)
        env = os.environ
        self._function_key = (
            self._function_key or env.get(FUNCTION_KEY_SETTING) or self._generated_key(FUNCTION_KEY_SETTING)
        )
        self._admin_key = (
            self._admin_key or env.get(ADMIN_KEY_SETTING) or self._generated_key(ADMIN_KEY_SETTING)
        )
        if self._admin_key == self._function_key:
            raise ConfigError(
                f"{ADMIN_KEY_SETTING} equals {FUNCTION_KEY_SETTING}: give operators their own key"
            )
        invoker = self._invoker = Invoker(self._threads or thread_count(env))
        http = self._http = HttpHost(
            app,
            invoker,
            function_key=self._function_key,
            admin_key=self._admin_key,
            host=self._host,
            port=self._port,
            max_body_bytes=self._max_body,
        )
        if self._queues_enabled and app.of_type(QUEUE_TRIGGER):
            self._queue_host = QueueHost(
                app, invoker, env, lease_seconds=self._lease_seconds(env), drain_seconds=self._drain
            )
        await run_warmup(app, invoker)
        await http.start()
        if self._queue_host is not None:
            await self._queue_host.start()
        self._log_functions(app, http)
        logger.info("Dev host ready: %s (app %s)", http.url, app.path)

    async def stop(self) -> None:
        """Stop polling (running invocations get ``drain_seconds``), close the listener, restore env."""
        queue_host, self._queue_host = self._queue_host, None
        http, self._http = self._http, None
        if queue_host is not None:
            await queue_host.stop()
        if http is not None:
            await http.stop()
        if self._invoker is not None:
            self._invoker.shutdown()
            self._invoker = None
        self._restore_env()

    def _apply_settings(self) -> None:
        for name, value in self._settings.items():
            self._saved_env.setdefault(name, os.environ.get(name))
            os.environ[name] = value

    def _restore_env(self) -> None:
        for name, value in self._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        self._saved_env.clear()

    def _lease_seconds(self, env: Mapping[str, str]) -> float:
        if self._lease is not None:
            return self._lease
        raw = env.get(LEASE_SETTING, "").strip()
        if not raw:
            return DEFAULT_LEASE_SECONDS
        try:
            return max(1.0, float(raw))
        except ValueError:
            raise ConfigError(f"{LEASE_SETTING} must be a number of seconds, got {raw!r}") from None

    @staticmethod
    def _generated_key(setting: str) -> str:
        key = secrets.token_urlsafe(24)
        # Logged once so a developer can call keyed routes; set the setting to keep one across runs.
        logger.info("No %s set: the key for this run is %s", setting, key)
        return key

    def _log_functions(self, app: LoadedApp, http: HttpHost) -> None:
        for spec in app.functions:
            if spec.trigger_type == HTTP_TRIGGER:
                methods = ",".join(spec.methods or ("ALL",))
                logger.info(
                    "  %s: [%s] %s (auth %s)", spec.name, methods, http.function_url(spec), spec.auth_level
                )
            elif spec.trigger_type == QUEUE_TRIGGER:
                state = "" if self._queue_host is not None else ", not polled"
                logger.info(
                    "  %s: queueTrigger (queue %s%s)", spec.name, spec.trigger.get("queueName"), state
                )
            else:
                logger.info("  %s: %s%s", spec.name, spec.trigger_type, _not_run_note(spec.trigger_type))


def _not_run_note(trigger_type: str) -> str:
    return "" if trigger_type == WARMUP_TRIGGER else " (not run by the dev host)"


async def serve_until_signalled(
    host: DevHost, on_ready: Callable[[DevHost], Awaitable[None]] | None = None
) -> None:
    """Start ``host``, run ``on_ready`` (if any), serve until SIGINT or SIGTERM, then stop cleanly."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await host.start()
        if on_ready is not None:
            await on_ready(host)
        await stop.wait()
        logger.info("Stopping the dev host")
    finally:
        await host.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


class ThreadedHost:
    """A DevHost running in its own thread and event loop; ``stop()`` ends both."""

    def __init__(self, host: DevHost, loop: asyncio.AbstractEventLoop, thread: threading.Thread) -> None:
        self.host = host
        self._loop = loop
        self._thread = thread
        self.url = host.url
        self.function_key = host.function_key
        self.admin_key = host.admin_key

    def stop(self, timeout: float = 60.0) -> None:
        if not self._thread.is_alive():
            return
        try:
            asyncio.run_coroutine_threadsafe(self.host.stop(), self._loop).result(timeout)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout)

    def __enter__(self) -> ThreadedHost:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def run_in_thread(
    app_path: Path | str | None = None,
    settings: Mapping[str, str] | None = None,
    port: int = 0,
    *,
    start_timeout: float = 120.0,
    **options: Any,
) -> ThreadedHost:
    """Start a DevHost (keyword options as for DevHost) in a daemon thread; returns once it serves."""
    host = DevHost(app_path, settings, port, **options)
    loop = asyncio.new_event_loop()
    started: concurrent.futures.Future[None] = concurrent.futures.Future()

    def main() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(host.start())
        except BaseException as exc:  # handed to the caller's thread
            started.set_exception(exc)
            loop.close()
            return
        started.set_result(None)
        loop.run_forever()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    thread = threading.Thread(target=main, name="devhost", daemon=True)
    thread.start()
    started.result(timeout=start_timeout)
    return ThreadedHost(host, loop, thread)
