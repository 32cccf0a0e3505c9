"""A request in plain words through the dev host: planned by a scripted model, run, answered."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import HostProcess, host_settings, wait_for
from tests.servers.chat_server import ChatServer, running_chat_server
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
    settings |= {"OPENAI_BASE_URL": chat.url, "OPENAI_MODEL": "scripted", "PLANNER_FULL_CATALOG_MAX": "100"}
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
