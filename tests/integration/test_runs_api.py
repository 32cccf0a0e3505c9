"""POST /api/runs, skills and the run job kind, through the HTTP functions with the real sandbox."""

from __future__ import annotations

from typing import Any

import azure.functions as func
import pytest

from tests.fakes import RecordingQueue
from tests.unit.test_functions_http import FUNCTIONS, assert_problem, call, payload
from toolweaver.services import Services

PARALLEL = """import asyncio
a, b, c = await asyncio.gather(
    echo(text="hi"), calculate(expression="6*7"), convert_units(value=1, from_unit="km", to_unit="m")
)
result = [a["text"], b["result"], c["value"]]
"""


def run(body: dict[str, Any]) -> dict[str, Any]:
    response = call("runs", "POST", body)
    assert response.status_code == 200, response.get_body()
    return dict(payload(response))


def test_a_program_calls_three_demo_tools_in_parallel_and_lists_the_calls(services: Services) -> None:
    outcome = run({"program": PARALLEL})
    assert outcome["status"] == "succeeded" and outcome["result"] == ["hi", 42, 1000]
    assert sorted(c["tool"] for c in outcome["tool_calls"]) == ["calculate", "convert_units", "echo"]
    assert all(c["ok"] for c in outcome["tool_calls"])


@pytest.mark.parametrize(
    ("program", "status"),
    [
        pytest.param("while True:\n    pass", "timeout", id="cpu-loop"),
        pytest.param("import os\nresult = os.environ", "rejected", id="import-os"),
        pytest.param("result = 1 / 0", "error", id="exception"),
    ],
)
def test_failing_programs_are_outcomes_not_http_errors(services: Services, program: str, status: str) -> None:
    outcome = run({"program": program, "timeout_s": 1})
    assert outcome["status"] == status and outcome["error"]


def test_a_plan_runs_with_references_between_steps(services: Services) -> None:
    plan = {
        "steps": [
            {"id": "word", "tool": "echo", "arguments": {"text": "one two three"}},
            {"id": "stats", "tool": "text_statistics", "arguments": {"text": {"$ref": "word.text"}}},
        ],
        "output": "stats",
    }
    outcome = run({"plan": plan})
    assert outcome["status"] == "succeeded" and outcome["result"]["words"] == 3


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(
            {"plan": {"steps": [{"id": "a", "tool": "no_such_tool", "arguments": {}}]}}, id="unknown-tool"
        ),
        pytest.param({"program": "result = 1", "plan": {"steps": []}}, id="both"),
        pytest.param({}, id="neither"),
        pytest.param({"program": "result = 1", "timeout_s": 61}, id="over-http-limit"),
    ],
)
def test_invalid_runs_are_422_problems(services: Services, body: dict[str, Any]) -> None:
    assert_problem(call("runs", "POST", body), 422)


def test_a_skill_is_saved_versioned_found_and_called_like_a_tool(services: Services) -> None:
    skill = {
        "description": "Greet a person by name with a friendly hello",
        "code": "r = await echo(text='Hello, ' + args['name'])\nresult = r['text']",
        "parameters": {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
    }
    created = call("skills_item", "PUT", skill, route={"name": "greet"})
    assert created.status_code == 201 and payload(created)["version"] == 1
    again = call(
        "skills_item", "PUT", {**skill, "description": "Say hello to someone"}, route={"name": "greet"}
    )
    assert again.status_code == 200 and payload(again)["version"] == 2
    assert payload(call("skills_item", route={"name": "greet"}))["code"] == skill["code"]
    hits = payload(call("tools_search", "POST", {"query": "say hello to someone", "backend": "skill"}))[
        "results"
    ]
    assert [hit["name"] for hit in hits] == ["greet"]
    outcome = run({"program": "result = await greet(name='Ada')"})
    assert outcome["status"] == "succeeded" and outcome["result"] == "Hello, Ada"
    assert call("skills_item", "DELETE", route={"name": "greet"}).status_code == 204
    assert_problem(call("skills_item", route={"name": "greet"}), 404)


def test_skills_refuse_bad_code_and_do_not_shadow_tools(services: Services) -> None:
    bad = {"description": "walks the object graph", "code": "result = ().__class__.__bases__"}
    document = assert_problem(call("skills_item", "PUT", bad, route={"name": "bad"}), 422)
    assert "is not allowed" in document["detail"]
    assert_problem(
        call("skills_item", "PUT", {"description": "x", "code": "result = 1"}, route={"name": "echo"}), 404
    )
    assert_problem(call("skills_item", route={"name": "echo"}), 404)  # a tool, not a skill


def test_the_run_job_kind_runs_on_the_queue(services: Services, queue: RecordingQueue) -> None:
    job = {"kind": "run", "input": {"program": PARALLEL, "timeout_s": 30}}
    job_id = payload(call("jobs_create", "POST", job))["id"]
    FUNCTIONS["jobs_run"](func.QueueMessage(id="m1", body=job_id.encode()))
    record = payload(call("jobs_item", route={"id": job_id}))
    assert record["status"] == "succeeded"
    assert record["result"]["status"] == "succeeded" and record["result"]["result"] == ["hi", 42, 1000]


def test_a_run_past_the_http_budget_is_a_504_problem(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    from toolweaver.execution import budget

    monkeypatch.setattr(budget, "HTTP_SECONDS", 0.5)
    program = "import asyncio\nawait asyncio.sleep(5)\nresult = 1"
    document = assert_problem(call("runs", "POST", {"program": program, "timeout_s": 10}), 504)
    assert "timeout_s" in document["detail"]
