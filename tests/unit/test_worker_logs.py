"""What the Functions worker forwards to the host: the formatted message, level and logger name.

The Python worker's handler on the root logger sends ``self.format(record)``, the level and the
logger's name over gRPC, and nothing else of the record. These tests put a handler that does the
same on the root logger, drive the app through its functions, and read what it would send.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from opentelemetry.sdk.trace import TracerProvider

from tests.app_functions import functions
from tests.fakes import FakeEmbedder, RecordingQueue
from toolweaver.errors import StorageUnavailableError
from toolweaver.functions import runtime
from toolweaver.observability import logs, tracing
from toolweaver.services import Services
from toolweaver.settings import Settings
from toolweaver.storage.filesystem import FileSystemBlobStore

FUNCTIONS: dict[str, Callable[..., Any]] = {f.get_function_name(): f.get_user_function() for f in functions()}


class WorkerStyleHandler(logging.Handler):
    """Keeps (message, level, category) as the worker's AsyncLoggingHandler passes them on."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.sent.append((self.format(record), record.levelno, record.name))

    def app_messages(self) -> list[str]:
        return [message for message, _, category in self.sent if category.startswith("toolweaver")]


class DownStore(FileSystemBlobStore):
    def get(self, key: str) -> Any:
        raise StorageUnavailableError("Blob Storage is unreachable")


@pytest.fixture
def worker_handler() -> Iterator[WorkerStyleHandler]:
    handler = WorkerStyleHandler()
    root = logging.getLogger()
    before = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)  # what the worker sets
    logs.configure("json")
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(before)
        logs.SETUP.forwarding.remove(handler)


def search(headers: dict[str, str]) -> func.HttpResponse:
    request = func.HttpRequest(
        method="POST",
        url="http://localhost/api/tools/search",
        headers={"Content-Type": "application/json", **headers},
        params={},
        route_params={},
        body=json.dumps({"query": "weather"}).encode(),
    )
    response: func.HttpResponse = FUNCTIONS["tools_search"](request)
    return response


def test_a_forwarded_request_log_carries_the_request_id_in_its_text(
    tmp_path: Path, worker_handler: WorkerStyleHandler
) -> None:
    runtime.use(Services(Settings(), cache_store=DownStore(tmp_path), embedder=FakeEmbedder()))
    try:
        response = search({"X-Request-Id": "req-from-caller"})
    finally:
        runtime.use(None)
    assert response.status_code == 503
    forwarded = worker_handler.app_messages()
    assert forwarded, "the 503 is logged"
    assert all(message.endswith("[request_id=req-from-caller]") for message in forwarded)
    assert not any(message.lstrip().startswith("{") for message in forwarded)  # text: the host adds the rest


def test_a_forwarded_job_log_carries_the_job_id_and_the_trace_id(
    tmp_path: Path, worker_handler: WorkerStyleHandler
) -> None:
    services = Services(
        Settings(),
        cache_store=FileSystemBlobStore(tmp_path / "cache"),
        jobs_store=FileSystemBlobStore(tmp_path / "jobs"),
        queue=RecordingQueue(),
        embedder=FakeEmbedder(),
    )
    job, _ = services.jobs.create("no-such-kind", {})
    provider = TracerProvider()
    tracing.install(provider)
    try:
        services.worker.process(job.id)
    finally:
        tracing.install(None)
        provider.shutdown()
    forwarded = [m for m in worker_handler.app_messages() if "failed" in m]
    assert forwarded, "the failed job is logged"
    assert re.search(rf"\[job_id={job.id} trace_id=[0-9a-f]{{32}}\]$", forwarded[0]), forwarded[0]


def test_records_exported_through_opentelemetry_are_not_forwarded_again(
    worker_handler: WorkerStyleHandler,
) -> None:
    exported = WorkerStyleHandler()
    app_log = logging.getLogger("toolweaver.test.forwarding")
    logs.SETUP.export_through(exported)
    try:
        app_log.warning("exported once")
        logging.getLogger("azure.storage.blob").warning("not ours: forwarded")
    finally:
        logs.SETUP.export_through(None)
    app_log.warning("forwarded again")
    assert [m for m, _, _ in exported.sent] == ["exported once"]
    assert [m for m, _, _ in worker_handler.sent] == ["not ours: forwarded", "forwarded again"]


@pytest.mark.parametrize(
    "name",
    [
        "azure.core.pipeline.policies.http_logging_policy",
        "azure.identity",
        "azure.storage.blob",
        "azure.storage.queue",
        "azure.monitor.opentelemetry.exporter.export._base",
    ],
)
def test_importing_the_functions_package_keeps_the_azure_sdk_at_warning(name: str) -> None:
    import toolweaver.functions  # noqa: F401 - what function_app.py imports

    logger = logging.getLogger(name)
    assert not logger.isEnabledFor(logging.INFO) and logger.isEnabledFor(logging.WARNING)
