"""A request in plain words through the dev host: planned by a scripted model, run, answered.

The last tests give the model server real habits (tests/servers/chat_server.py): a slow one, and
llama-cpp-python's refusal of ``json_schema`` with its 2,048-token window; the host learns the
second for the rest of its life, so it runs last.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import HostProcess, host_settings, wait_for
from tests.servers.chat_server import Behaviour, ChatServer, running_chat_server
from toolweaver.devhost.azurite import Azurite

pytestmark = [pytest.mark.azurite, pytest.mark.model, pytest.mark.slow]

PLAN = {
    "steps": [
        {
            "id": "days",
            "tool": "days_between_dates",
            "arguments": {"start": "2026-11-28", "end": "2027-01-01"},
        },
    ],
    "output": "days",
}


@pytest.fixture(scope="module")
def chat() -> Iterator[ChatServer]:
    with running_chat_server() as server:
        yield server


@pytest.fixture(scope="module")
def planning_host(
    azurite: Azurite, chat: ChatServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HostProcess]:
    workdir = tmp_path_factory.mktemp("ask-host")
    settings = host_settings(azurite.connection_string, workdir)
    settings |= {
        "OPENAI_BASE_URL": chat.url,
        "OPENAI_MODEL": "scripted",
        "PLANNER_FULL_CATALOG_MAX": "100",
        "PLANNER_TIMEOUT": "5",
    }
    host = HostProcess(settings, workdir)
    host.start()
    yield host
    host.stop()


def test_runs_with_a_request_returns_the_executed_result(
    planning_host: HostProcess, chat: ChatServer
) -> None:
    chat.enqueue(PLAN)
    chat.enqueue("There are 34 days until New Year 2027.")
    reply = planning_host.request(
        "POST", "/runs", {"request": "how many days from 2026-11-28 to 2027-01-01?"}
    )
    assert reply.status == 200, reply.body
    outcome = reply.json()
    assert outcome["run"]["status"] == "succeeded" and outcome["run"]["result"]["days"] == 34
    assert outcome["answer"].startswith("There are 34 days")


def test_the_same_request_as_an_ask_job(planning_host: HostProcess, chat: ChatServer) -> None:
    chat.enqueue(PLAN)
    chat.enqueue("34 days.")
    job = {"kind": "ask", "input": {"request": "days from 2026-11-28 to 2027-01-01, as a job"}}
    job_id = planning_host.request("POST", "/jobs", job).json()["id"]

    def finished() -> dict[str, object] | None:
        record = planning_host.request("GET", f"/jobs/{job_id}").json()
        return record if record["status"] in ("succeeded", "failed") else None

    record = wait_for(finished, timeout=60)
    assert record["status"] == "succeeded", record
    assert record["result"]["run"]["result"]["days"] == 34  # type: ignore[index]


def test_a_slow_model_is_a_503_that_names_the_timeout_and_is_not_retried(
    planning_host: HostProcess, chat: ChatServer
) -> None:
    before = len(chat.history)
    chat.enqueue(PLAN, delay=15.0)
    reply = planning_host.request("POST", "/runs", {"request": "days from 2026-11-28 to 2027-01-01, slowly"})
    assert reply.status == 503, reply.body
    headers = {name.lower(): value for name, value in reply.headers.items()}
    assert headers["content-type"].startswith("application/problem+json")
    detail = reply.json()["detail"]
    assert "did not answer within 5 s" in detail and "PLANNER_TIMEOUT" in detail
    assert len(chat.history) == before + 1  # the request that timed out was not sent again


def test_a_llama_cpp_python_like_server_plans_through_the_host(
    planning_host: HostProcess, chat: ChatServer
) -> None:
    # Its 500 for json_schema and its default 2,048-token window, which the whole demo catalog
    # overflows: the host steps down to JSON mode and offers the best-ranked tools that fit.
    chat.behave(Behaviour(refuse_formats=("json_schema",), context_tokens=2048, context_style="truncate"))
    try:
        before = len(chat.history)
        chat.enqueue(PLAN)
        chat.enqueue("34 days.")
        reply = planning_host.request("POST", "/runs", {"request": "days between 2026-11-28 and 2027-01-01?"})
        assert reply.status == 200, reply.body
        outcome = reply.json()
        assert outcome["run"]["result"]["days"] == 34
        assert "days_between_dates" in outcome["tools_offered"] and len(outcome["tools_offered"]) < 37
        sent = [(record.body.get("response_format") or {}).get("type") for record in chat.history[before:]]
        assert sent[0] == "json_schema" and sent[-1] is None  # refused first; the answer in words last
        assert set(sent[1:-1]) == {"json_object"}
    finally:
        chat.behave(Behaviour())
