"""Time budgets from host.json: every run, ask and job ends, recorded, before functionTimeout."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from toolweaver.api.models import MAX_RUN_SECONDS, RunRequest
from toolweaver.errors import ConfigError, DeadlineExceededError, ToolWeaverError
from toolweaver.execution import budget
from toolweaver.execution.loop import run_sync
from toolweaver.planning import openai_chat
from toolweaver.settings import REPO_DIR


def host_json(tmp_path: Path, timeout: str | None) -> Path:
    path = tmp_path / "host.json"
    path.write_text(json.dumps({"version": "2.0"} | ({"functionTimeout": timeout} if timeout else {})))
    return path


@pytest.mark.parametrize(
    ("timeout", "seconds"),
    [
        pytest.param("00:10:00", 600.0, id="ten-minutes"),
        pytest.param("00:05:30", 330.0, id="minutes-and-seconds"),
        pytest.param("1.02:00:00", 93_600.0, id="with-days"),
        pytest.param(None, budget.DEFAULT_FUNCTION_TIMEOUT_S, id="absent"),
    ],
)
def test_function_timeout_is_read_from_host_json(tmp_path: Path, timeout: str | None, seconds: float) -> None:
    assert budget.function_timeout(host_json(tmp_path, timeout)) == seconds


@pytest.mark.parametrize("timeout", ["-1", "10 minutes", "00:61"])
def test_an_unusable_function_timeout_names_the_format(tmp_path: Path, timeout: str) -> None:
    with pytest.raises(ConfigError, match="hh:mm:ss"):
        budget.function_timeout(host_json(tmp_path, timeout))


def test_the_budgets_come_from_the_shipped_host_json_and_fit_inside_it() -> None:
    shipped = json.loads((REPO_DIR / "host.json").read_text())["functionTimeout"]
    assert budget.function_timeout(REPO_DIR / "host.json") == budget.FUNCTION_TIMEOUT_S
    assert shipped == "00:10:00" and budget.FUNCTION_TIMEOUT_S == 600
    # A job's longest run, waited for with its grace, still leaves time to record the outcome.
    assert budget.run_seconds(MAX_RUN_SECONDS) <= budget.JOB_SECONDS < budget.FUNCTION_TIMEOUT_S
    assert min(budget.FUNCTION_TIMEOUT_S, budget.HTTP_FRONT_END_S) > budget.HTTP_SECONDS
    assert RunRequest.model_json_schema()["properties"]["timeout_s"]["maximum"] == MAX_RUN_SECONDS


def test_the_ask_budget_covers_its_worst_case_model_requests() -> None:
    # Every try of every model request times out and waits the longest retry delay in between.
    assert budget.MODEL_ATTEMPTS == openai_chat.MAX_RETRIES + 1
    planner_timeout, run = 20.0, 30.0
    per_request = budget.MODEL_ATTEMPTS * planner_timeout + openai_chat.MAX_RETRIES * budget.RETRY_WAIT_S
    worst = budget.ASK_MODEL_REQUESTS * per_request + run
    assert budget.ask_seconds(run, planner_timeout) >= worst
    assert budget.plan_seconds(planner_timeout) >= budget.PLAN_MODEL_REQUESTS * per_request


def test_a_wait_past_the_deadline_cancels_the_work_and_is_a_terminal_error() -> None:
    cancelled = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with budget.deadline_in(0.2), pytest.raises(DeadlineExceededError) as err:
        run_sync(forever(), timeout=30)
    assert isinstance(err.value, ToolWeaverError) and err.value.seconds <= 0.2
    assert "functionTimeout" in str(err.value)
    run_sync(asyncio.wait_for(cancelled.wait(), 5))  # the task on the loop was cancelled


def test_an_inner_deadline_never_extends_the_outer_one() -> None:
    with budget.deadline_in(1.0) as outer, budget.deadline_in(100.0) as inner:
        assert inner == outer
        left = budget.remaining()
        assert left is not None and left <= 1.0
    assert budget.remaining() is None


def test_without_a_deadline_the_timeout_alone_applies() -> None:
    with pytest.raises(DeadlineExceededError, match="did not finish within"):
        run_sync(asyncio.sleep(5), timeout=0.1)
