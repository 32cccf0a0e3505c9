"""POST /api/plans, POST /api/runs with a request, and the ask job kind, against a scripted model."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest

from tests.fakes import FakeEmbedder, RecordingQueue
from tests.servers.chat_server import ChatServer, running_chat_server
from tests.unit.test_functions_http import FUNCTIONS, assert_problem, call, payload
from toolweaver.execution import budget
from toolweaver.functions import runtime
from toolweaver.observability.metrics import REGISTRY
from toolweaver.services import Services
from toolweaver.settings import Settings
from toolweaver.storage.filesystem import FileSystemBlobStore

PLAN = {
    "steps": [
        {"id": "s1", "tool": "calculate", "arguments": {"expression": "6*7"}},
        {"id": "s2", "tool": "echo", "arguments": {"text": "the answer"}},
    ],
    "output": "s1",
}


@pytest.fixture
def chat() -> Iterator[ChatServer]:
    with running_chat_server() as server:
        yield server


@pytest.fixture
def planned(tmp_path: Path, chat: ChatServer) -> Iterator[Services]:
    settings = Settings(openai_base_url=chat.url, openai_model="scripted", planner_full_catalog_max=100)
    built = Services(
        settings,
        cache_store=FileSystemBlobStore(tmp_path / "cache"),
        jobs_store=FileSystemBlobStore(tmp_path / "jobs"),
        queue=RecordingQueue(),
        embedder=FakeEmbedder(),
    )
    runtime.use(built)
    yield built
    runtime.use(None)


def tokens(kind: str) -> float:
    return REGISTRY.get_sample_value("toolweaver_planner_tokens_total", {"kind": kind}) or 0.0


def test_planning_without_a_model_is_503_naming_the_settings(services: Services) -> None:
    for name, body in [("plans", {"request": "add two numbers"}), ("runs", {"request": "add two numbers"})]:
        document = assert_problem(call(name, "POST", body), 503)
        assert "OPENAI_BASE_URL" in document["detail"] and "AZURE_OPENAI_ENDPOINT" in document["detail"]
    assert call("tools_search", "POST", {"query": "add numbers"}).status_code == 200  # the rest still works


def test_a_plan_comes_back_validated_and_is_cached(planned: Services, chat: ChatServer) -> None:
    chat.enqueue(PLAN, usage={"prompt_tokens": 900, "completion_tokens": 40, "cached_tokens": 512})
    before = tokens("cached")
    first = payload(call("plans", "POST", {"request": "what is six times seven?"}))
    assert first["plan"]["steps"][0]["tool"] == "calculate" and first["cached"] is False
    assert "calculate" in first["tools_offered"]
    assert tokens("cached") - before == 512  # token usage reaches the metrics
    again = payload(call("plans", "POST", {"request": "what is six times seven?"}))
    assert again["cached"] is True and len(chat.history) == 1  # no second model call


def test_a_request_is_planned_run_and_answered(planned: Services, chat: ChatServer) -> None:
    chat.enqueue(PLAN)
    chat.enqueue("Six times seven is 42.")
    response = call("runs", "POST", {"request": "what is six times seven?"})
    assert response.status_code == 200
    outcome: dict[str, Any] = payload(response)
    assert outcome["run"]["status"] == "succeeded" and outcome["run"]["result"]["result"] == 42
    assert outcome["answer"] == "Six times seven is 42."
    synthesis_prompt = str(chat.history[1].messages)
    assert "42" in synthesis_prompt  # the run's results went to the model as data


def test_two_invalid_plans_end_in_a_422_listing_the_problems(planned: Services, chat: ChatServer) -> None:
    bad = {"steps": [{"id": "s1", "tool": "no_such_tool", "arguments": {}}]}
    chat.enqueue(bad)
    chat.enqueue(bad)
    document = assert_problem(call("plans", "POST", {"request": "do something impossible"}), 422)
    assert any("no_such_tool" in error["message"] for error in document["errors"])
    assert len(chat.history) == 2  # one repair round, then the failure


def test_the_ask_job_kind_plans_and_runs_on_the_queue(planned: Services, chat: ChatServer) -> None:
    chat.enqueue(PLAN)
    chat.enqueue("It is 42.")
    job_id = payload(call("jobs_create", "POST", {"kind": "ask", "input": {"request": "six times seven?"}}))[
        "id"
    ]
    FUNCTIONS["jobs_run"](func.QueueMessage(id="m1", body=job_id.encode()))
    record = payload(call("jobs_item", route={"id": job_id}))
    assert record["status"] == "succeeded" and record["result"]["answer"] == "It is 42."


def test_an_ask_past_the_http_budget_is_a_504_problem(
    planned: Services, chat: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(budget, "HTTP_SECONDS", 0.5)  # the budget the HTTP functions bind
    chat.enqueue(PLAN, delay=3.0)  # the model answers after the budget
    document = assert_problem(call("runs", "POST", {"request": "what is six times seven?"}), 504)
    assert "POST /api/jobs" in document["detail"]


def test_an_ask_job_past_its_deadline_fails_and_a_redelivery_does_not_rerun_it(
    planned: Services, chat: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat.enqueue(PLAN, delay=3.0)
    job_id = payload(call("jobs_create", "POST", {"kind": "ask", "input": {"request": "six times seven?"}}))[
        "id"
    ]
    monkeypatch.setattr(planned.worker, "seconds", 0.5)
    message = func.QueueMessage(id="m1", body=job_id.encode())
    FUNCTIONS["jobs_run"](message)
    record = payload(call("jobs_item", route={"id": job_id}))
    assert record["status"] == "failed" and record["error"]["type"] == "DeadlineExceededError"
    FUNCTIONS["jobs_run"](message)  # delivered again: a finished job is left alone
    assert len(chat.history) == 1 and payload(call("jobs_item", route={"id": job_id})) == record
