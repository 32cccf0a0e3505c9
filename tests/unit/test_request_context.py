"""Request ids and structured logs: one id ties a request's answer, its log lines and its span."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes import FakeEmbedder
from toolweaver.api.http import ApiRequest, ApiResponse, json_response
from toolweaver.api.routes import Operation, Route, dispatch
from toolweaver.observability import logs
from toolweaver.services import Services
from toolweaver.settings import Settings
from toolweaver.storage.filesystem import FileSystemBlobStore


@pytest.fixture
def services(tmp_path: Path) -> Services:
    return Services(Settings(), cache_store=FileSystemBlobStore(tmp_path), embedder=FakeEmbedder())


@pytest.fixture
def captured() -> Iterator[list[logging.LogRecord]]:
    logs.configure("json")
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    handler = Keep()
    logger = logging.getLogger("toolweaver.test.context")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield records
    logger.removeHandler(handler)


def logging_route() -> Route:
    def handler(request: ApiRequest, services: Services) -> ApiResponse:
        logging.getLogger("toolweaver.test.context").info("handling it")
        return json_response(200, {})

    return Route("probe", "probe", {"GET": Operation(handler, "probe", {200: "OK"})})


def test_each_answer_carries_a_new_request_id_that_its_log_lines_share(
    services: Services, captured: list[logging.LogRecord]
) -> None:
    one = dispatch(logging_route(), ApiRequest("GET", "/api/probe"), services)
    two = dispatch(logging_route(), ApiRequest("GET", "/api/probe"), services)
    ids = [one.headers["X-Request-Id"], two.headers["X-Request-Id"]]
    assert ids[0] != ids[1] and all(len(i) == 32 for i in ids)
    assert [r.request_id for r in captured] == ids  # type: ignore[attr-defined]
    assert logs.REQUEST_ID.get() == ""  # unbound after the request


def test_a_plain_caller_request_id_is_kept_and_a_hostile_one_replaced(services: Services) -> None:
    kept = dispatch(logging_route(), ApiRequest("GET", "/", headers={"x-request-id": "abc-123"}), services)
    assert kept.headers["X-Request-Id"] == "abc-123"
    hostile = "x\r\nSet-Cookie: a=b"
    replaced = dispatch(logging_route(), ApiRequest("GET", "/", headers={"x-request-id": hostile}), services)
    assert replaced.headers["X-Request-Id"] != hostile and len(replaced.headers["X-Request-Id"]) == 32


def test_problem_answers_carry_the_request_id_too(services: Services) -> None:
    route = logging_route()
    refused = dispatch(route, ApiRequest("DELETE", "/api/probe"), services)
    assert refused.status == 405 and refused.headers["X-Request-Id"]


def test_the_json_formatter_writes_one_object_with_the_ids_and_extras() -> None:
    logs.configure("json")
    with logs.bound(logs.REQUEST_ID, "req-1"), logs.bound(logs.JOB_ID, "job-9"):
        record = logging.getLogger("toolweaver.x").makeRecord(
            "toolweaver.x", logging.WARNING, __file__, 1, "took %d ms", (12,), None, extra={"tool": "echo"}
        )
    line = logs.JsonFormatter().format(record)
    entry = json.loads(line)
    assert entry["message"] == "took 12 ms" and entry["level"] == "WARNING"
    assert entry["request_id"] == "req-1" and entry["job_id"] == "job-9" and entry["tool"] == "echo"
    assert "\n" not in line


def test_the_text_formatter_appends_the_ids_in_brackets() -> None:
    logs.configure("json")
    with logs.bound(logs.JOB_ID, "job-9"):
        record = logging.getLogger("toolweaver.x").makeRecord(
            "toolweaver.x", logging.INFO, __file__, 1, "done", (), None
        )
    assert logs.TextFormatter().format(record).endswith("done [job_id=job-9]")
