"""run-program and run-plan as real processes: JSON output, exit codes, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli import run_cli
from tests.servers.chat_server import running_chat_server

PROGRAM = """import asyncio
a, b, c = await asyncio.gather(echo(text="x"), calculate(expression="2**10"), day_of_week(date="2026-11-28"))
print("done")
result = [a["text"], b["result"], c["weekday"]]
"""


def test_run_program_prints_one_json_object_with_the_tool_calls(tmp_path: Path) -> None:
    program = tmp_path / "p.py"
    program.write_text(PROGRAM, encoding="utf-8")
    done = run_cli("run-program", "--file", str(program), "--json")
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert set(outcome) >= {"status", "result", "stdout", "error", "tool_calls", "duration_ms"}
    assert outcome["result"] == ["x", 1024, "Saturday"] and outcome["stdout"] == "done\n"
    assert len(outcome["tool_calls"]) == 3


@pytest.mark.parametrize(
    ("program", "status"),
    [
        pytest.param("result = 1/0", "error", id="error"),
        pytest.param("import socket", "rejected", id="rejected"),
    ],
)
def test_a_failed_program_exits_1_with_its_status(program: str, status: str) -> None:
    done = run_cli("run-program", "--file", "-", "--json", stdin=program)
    assert done.returncode == 1 and json.loads(done.stdout)["status"] == status


def test_run_plan_from_stdin_and_a_clear_error_for_a_bad_plan() -> None:
    plan = {"steps": [{"id": "a", "tool": "echo", "arguments": {"text": "hi"}}]}
    done = run_cli("run-plan", "--file", "-", "--json", stdin=json.dumps(plan))
    assert done.returncode == 0 and json.loads(done.stdout)["result"] == {"text": "hi"}
    bad = run_cli("run-plan", "--file", "-", stdin=json.dumps({"steps": [{"id": "a", "tool": "nope"}]}))
    assert bad.returncode == 1 and bad.stderr.startswith("error:") and "nope" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_ask_plans_runs_and_answers_through_an_openai_compatible_server(tmp_path: Path) -> None:
    plan = {"steps": [{"id": "s1", "tool": "calculate", "arguments": {"expression": "6*7"}}], "output": "s1"}
    with running_chat_server() as chat:
        chat.enqueue(plan)
        chat.enqueue("Six times seven is 42.")
        env = {
            "OPENAI_BASE_URL": chat.url,
            "OPENAI_MODEL": "scripted",
            "INDEX_CACHE_DIR": str(tmp_path),
            "HF_HUB_OFFLINE": "1",
        }
        done = run_cli("ask", "what is six times seven?", "--json", env=env, timeout=180)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["run"]["result"]["result"] == 42 and answer["answer"] == "Six times seven is 42."
    assert [m["role"] for m in chat.history[0].messages][-1] == "user"


def test_ask_without_a_model_says_which_settings_to_set() -> None:
    done = run_cli("ask", "anything", drop=("OPENAI_", "AZURE_OPENAI_"), timeout=120)
    assert done.returncode == 1 and "OPENAI_BASE_URL" in done.stderr and "Traceback" not in done.stderr
