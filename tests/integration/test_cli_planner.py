"""``python -m toolweaver plan`` and ``ask`` as real processes against servers with real habits.

The server is the scripted loopback one with a real server's behaviour switched on
(tests/servers/chat_server.py): llama-cpp-python's (a 500 for ``json_schema``, a 2,048-token
window that cuts answers silently), one that writes prose around the JSON, a slow one, and one a
forced setting does not suit. Every failure is one line on stderr that names what to change.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.cli import run_cli
from tests.servers.chat_server import Behaviour, ChatServer, running_chat_server

pytestmark = pytest.mark.model

PLAN = {
    "steps": [
        {"id": "s1", "tool": "days_between_dates", "arguments": {"start": "2026-11-28", "end": "2027-01-01"}}
    ],
    "output": "s1",
}
REQUEST = "how many days from 2026-11-28 to 2027-01-01?"
LLAMA_CPP_PYTHON = Behaviour(refuse_formats=("json_schema",), context_tokens=2048, context_style="truncate")


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli-planner-index")  # the demo catalog is embedded once


def cli(server: ChatServer, index_dir: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    env = {
        "OPENAI_BASE_URL": server.url,
        "OPENAI_MODEL": "local",
        "INDEX_CACHE_DIR": str(index_dir),
        "PLAN_CACHE_TTL_SECONDS": "0",
        "HF_HUB_OFFLINE": "1",
        **settings,
    }
    return run_cli(*args, env=env, drop=("AZURE_OPENAI_", "PLANNER_"), timeout=180)


def one_line_error(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_plan_against_a_llama_cpp_python_like_server(index_dir: Path) -> None:
    with running_chat_server(LLAMA_CPP_PYTHON) as server:
        server.enqueue(PLAN)
        done = cli(server, index_dir, "plan", REQUEST, "--json")
        assert done.returncode == 0, done.stderr
        view = json.loads(done.stdout)
        assert view["plan"]["steps"][0]["tool"] == "days_between_dates"
        first, second = server.history
        assert first.body["response_format"]["type"] == "json_schema"
        assert second.body["response_format"]["type"] == "json_object"
        assert (
            second.body["response_format"]["schema"] == first.body["response_format"]["json_schema"]["schema"]
        )
        assert 0 < second.body["max_tokens"] <= 2048


def test_ask_against_a_server_that_answers_in_prose(index_dir: Path) -> None:
    with running_chat_server(Behaviour(prose=True)) as server:
        server.enqueue(PLAN)
        server.enqueue("There are 34 days.")
        done = cli(server, index_dir, "ask", REQUEST, "--json")
        assert done.returncode == 0, done.stderr
        answer = json.loads(done.stdout)
        assert answer["run"]["result"]["days"] == 34
        assert answer["answer"].startswith("Sure! Here is")  # the synthesis is prose too, kept as is
        assert server.history[1].body["max_tokens"] > 0  # the answer has a budget as well


def test_ask_against_a_slow_server_times_out_once_naming_the_setting(index_dir: Path) -> None:
    with running_chat_server() as server:
        server.enqueue(PLAN, delay=6.0)
        server.enqueue(PLAN)
        done = cli(server, index_dir, "ask", REQUEST, PLANNER_TIMEOUT="2")
        message = one_line_error(done)
        assert "did not answer within 2 s" in message and "PLANNER_TIMEOUT" in message
        assert "not repeated" in message
        assert len(server.history) == 1  # no retry queued behind the request still generating


def test_plan_with_a_forced_format_the_server_refuses(index_dir: Path) -> None:
    with running_chat_server(Behaviour(refuse_formats=("json_schema",))) as server:
        done = cli(server, index_dir, "plan", REQUEST, PLANNER_RESPONSE_FORMAT="json_schema")
        message = one_line_error(done)
        assert "PLANNER_RESPONSE_FORMAT" in message and "Input should be 'text' or 'json_object'" in message
        assert "try again later" not in message
        assert len(server.history) == 1


def test_ask_with_a_model_that_keeps_planning_wrong_names_what_it_did(index_dir: Path) -> None:
    wrong = {
        "steps": [{"id": "s1", "tool": "days_between_dates", "arguments": {"start": "soon"}}],
        "output": "s1",
    }
    with running_chat_server(LLAMA_CPP_PYTHON) as server:
        server.enqueue(wrong)
        server.enqueue(wrong)
        message = one_line_error(cli(server, index_dir, "ask", REQUEST))
        assert "no valid plan, even after a repair round" in message
        assert "'end' is a required property" in message and "the model's last answer began" in message
