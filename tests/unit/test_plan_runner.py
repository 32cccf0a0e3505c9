"""PlanRunner with a scripted invoker: waves, concurrency, retries, partial results, cancellation."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from toolweaver.catalog.model import Catalog, Tool
from toolweaver.execution.backends.base import RetryLaterError
from toolweaver.execution.demo_tools import DEMO_TOOLS
from toolweaver.execution.executor import ToolExecutor
from toolweaver.execution.idempotency import current_idempotency_key, idempotency_key
from toolweaver.execution.plan import Plan, Step, validate_plan
from toolweaver.execution.plan_runner import PlanOutcome, PlanRunner, program_source
from toolweaver.execution.ports import RunLimits, RunOutcome, ToolCallError, ToolInvoker

TOOLS = ["fetch", "slow", "flaky", "broken", "fast", "echo"]
CATALOG = Catalog(Tool(name=name, description=f"{name} tool") for name in TOOLS)

Script = Callable[[dict[str, Any]], Awaitable[Any]]


def seeded(seed: int) -> random.Random:
    return random.Random(seed)  # noqa: S311 - reproducible jitter, nothing secret


@dataclass
class Call:
    tool: str
    arguments: dict[str, Any]
    key: str | None
    started: float
    ended: float = 0.0


class FakeInvoker:
    """Runs a script per tool; records calls, idempotency keys and how many ran at once."""

    def __init__(self, scripts: dict[str, Script] | None = None, delay: float = 0.01) -> None:
        self.scripts = scripts or {}
        self.delay = delay
        self.calls: list[Call] = []
        self.active = 0
        self.peak = 0
        self.cancelled: list[str] = []

    async def invoke(self, name: str, arguments: dict[str, Any]) -> Any:
        call = Call(name, arguments, current_idempotency_key(), time.monotonic())
        self.calls.append(call)
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            script = self.scripts.get(name)
            if script is not None:
                return await script(arguments)
            await asyncio.sleep(self.delay)
            return {"tool": name, "arguments": arguments}
        except asyncio.CancelledError:
            self.cancelled.append(name)
            raise
        finally:
            self.active -= 1
            call.ended = time.monotonic()

    def starts(self, tool: str) -> list[float]:
        return [call.started for call in self.calls if call.tool == tool]

    def ends(self, tool: str) -> list[float]:
        return [call.ended for call in self.calls if call.tool == tool]


class RecordingSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@dataclass
class FakeCodeRunner:
    """Stands in for the sandbox: calls ``tool_calls`` through the given invoker, returns ``outcome``."""

    tool_calls: Sequence[tuple[str, dict[str, Any]]] = ()
    status: str = "succeeded"
    seen: list[dict[str, Any]] = field(default_factory=list)

    async def run(
        self, code: str, *, tools: ToolInvoker, tool_names: Sequence[str], limits: RunLimits
    ) -> RunOutcome:
        self.seen.append({"code": code, "tool_names": list(tool_names), "limits": limits})
        results = [await tools.invoke(name, arguments) for name, arguments in self.tool_calls]
        if self.status != "succeeded":
            return RunOutcome(status=self.status, error="NameError: name 'x' is not defined")  # type: ignore[arg-type]
        return RunOutcome(status="succeeded", result={"results": results})


def plan(*steps: dict[str, Any], **extra: Any) -> Plan:
    return validate_plan({"steps": list(steps), **extra}, CATALOG)


def run(runner: PlanRunner, the_plan: Plan, **kwargs: Any) -> PlanOutcome:
    return asyncio.run(runner.run(the_plan, **kwargs))


def failing(kind: str = "backend", retryable: bool = False, times: int = 10**6, **extra: Any) -> Script:
    state = {"left": times}

    async def script(arguments: dict[str, Any]) -> Any:
        if state["left"] > 0:
            state["left"] -= 1
            if "retry_after" in extra:
                raise RetryLaterError("flaky", "busy", retry_after=extra["retry_after"])
            raise ToolCallError("flaky", "went wrong", retryable=retryable, kind=kind)
        return "recovered"

    return script


def test_independent_steps_overlap_and_dependents_wait() -> None:
    invoker = FakeInvoker(delay=0.05)
    outcome = run(
        PlanRunner(invoker, max_concurrent=4),
        plan(
            {"id": "a", "tool": "fetch"},
            {"id": "b", "tool": "fast"},
            {"id": "c", "tool": "echo", "depends_on": ["a", "b"]},
        ),
    )
    assert outcome.status == "succeeded"
    # Same wave: each started before the other ended.
    assert invoker.starts("fetch")[0] < invoker.ends("fast")[0]
    assert invoker.starts("fast")[0] < invoker.ends("fetch")[0]
    assert invoker.starts("echo")[0] >= max(invoker.ends("fetch")[0], invoker.ends("fast")[0])
    assert outcome.steps == {"a": "succeeded", "b": "succeeded", "c": "succeeded"}
    assert outcome.result == outcome.outputs["c"]  # no "output": the last step's


def test_a_step_starts_as_soon_as_its_own_dependencies_finish() -> None:
    async def slow(arguments: dict[str, Any]) -> Any:
        await asyncio.sleep(0.2)
        return "slow"

    invoker = FakeInvoker({"slow": slow}, delay=0.01)
    run(
        PlanRunner(invoker),
        plan(
            {"id": "s", "tool": "slow"},
            {"id": "f", "tool": "fast"},
            {"id": "e", "tool": "echo", "depends_on": ["f"]},
        ),
    )
    assert invoker.starts("echo")[0] < invoker.ends("slow")[0]


@pytest.mark.parametrize(
    "limit", [pytest.param(1, id="one"), pytest.param(2, id="two"), pytest.param(5, id="five")]
)
def test_concurrency_limit_is_observed(limit: int) -> None:
    invoker = FakeInvoker(delay=0.02)
    steps = [{"id": f"s{i}", "tool": "fetch"} for i in range(8)]
    outcome = run(PlanRunner(invoker, max_concurrent=limit), plan(*steps))
    assert outcome.status == "succeeded"
    assert invoker.peak == limit
    assert len(outcome.tool_calls) == 8


def test_refs_are_resolved_from_earlier_outputs() -> None:
    async def fetch(arguments: dict[str, Any]) -> Any:
        return {"items": [{"name": "first"}, {"name": "second"}], "total": 2}

    invoker = FakeInvoker({"fetch": fetch})
    outcome = run(
        PlanRunner(invoker),
        plan(
            {"id": "f", "tool": "fetch"},
            {
                "id": "e",
                "tool": "echo",
                "arguments": {
                    "name": {"$ref": "f.items[1].name"},
                    "all": [{"$ref": "f.total"}, {"n": {"$ref": "f"}}],
                },
            },
            output="e",
        ),
    )
    echoed = outcome.outputs["e"]["arguments"]
    assert echoed["name"] == "second"
    assert echoed["all"][0] == 2
    assert echoed["all"][1]["n"]["total"] == 2
    assert outcome.result == outcome.outputs["e"]


def test_a_ref_to_a_missing_field_fails_the_step() -> None:
    outcome = run(
        PlanRunner(FakeInvoker()),
        plan(
            {"id": "f", "tool": "fetch"},
            {"id": "e", "tool": "echo", "arguments": {"x": {"$ref": "f.nothing.here"}}},
        ),
    )
    assert (outcome.status, outcome.failed_step, outcome.error_kind) == ("failed", "e", "reference")
    assert "nothing at f.nothing" in (outcome.error or "")


def test_retryable_errors_are_retried_with_full_jitter_backoff() -> None:
    sleep = RecordingSleep()
    invoker = FakeInvoker({"flaky": failing(retryable=True, times=2)})
    runner = PlanRunner(invoker, retries=2, backoff_base=0.5, sleep=sleep, rng=seeded(7))
    outcome = run(runner, plan({"id": "s", "tool": "flaky"}))
    assert outcome.status == "succeeded"
    assert outcome.outputs == {"s": "recovered"}
    assert len(invoker.calls) == 3
    assert len(sleep.delays) == 2
    assert 0 <= sleep.delays[0] <= 0.5
    assert 0 <= sleep.delays[1] <= 1.0
    assert sleep.delays == [seeded(7).uniform(0, 0.5), pytest.approx(sleep.delays[1])]
    assert [call.ok for call in outcome.tool_calls] == [False, False, True]


def test_backoff_is_capped() -> None:
    runner = PlanRunner(FakeInvoker(), backoff_base=1.0, backoff_cap=2.0, rng=seeded(1))
    error = ToolCallError("t", "x", retryable=True)
    assert all(runner.retry_delay(10, error) <= 2.0 for _ in range(50))


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [
        pytest.param(3, 3.0, id="honoured"),
        pytest.param(120, 30.0, id="capped"),
        pytest.param(0, 0.0, id="zero"),
    ],
)
def test_retry_after_is_honoured_and_capped(retry_after: float, expected: float) -> None:
    sleep = RecordingSleep()
    invoker = FakeInvoker({"flaky": failing(times=1, retry_after=retry_after)})
    outcome = run(PlanRunner(invoker, sleep=sleep, max_retry_after=30), plan({"id": "s", "tool": "flaky"}))
    assert outcome.status == "succeeded"
    assert sleep.delays == [expected]


def test_non_retryable_errors_are_not_retried() -> None:
    sleep = RecordingSleep()
    invoker = FakeInvoker({"flaky": failing(kind="invalid_arguments", retryable=False)})
    outcome = run(PlanRunner(invoker, sleep=sleep), plan({"id": "s", "tool": "flaky"}))
    assert (outcome.status, outcome.failed_step, outcome.error_kind) == ("failed", "s", "invalid_arguments")
    assert outcome.error == "tool 'flaky': went wrong"
    assert len(invoker.calls) == 1
    assert sleep.delays == []


def test_retries_run_out() -> None:
    sleep = RecordingSleep()
    invoker = FakeInvoker({"flaky": failing(kind="timeout", retryable=True)})
    outcome = run(PlanRunner(invoker, retries=3, sleep=sleep), plan({"id": "s", "tool": "flaky"}))
    assert (outcome.status, outcome.error_kind) == ("failed", "timeout")
    assert len(invoker.calls) == 4
    assert len(sleep.delays) == 3


def test_partial_results_and_the_failing_step() -> None:
    invoker = FakeInvoker({"broken": failing()})
    outcome = run(
        PlanRunner(invoker, max_concurrent=1),
        plan(
            {"id": "ok", "tool": "fetch"},
            {"id": "bad", "tool": "broken", "depends_on": ["ok"]},
            {"id": "after", "tool": "echo", "depends_on": ["bad"]},
        ),
    )
    assert (outcome.status, outcome.failed_step) == ("failed", "bad")
    assert set(outcome.outputs) == {"ok"}
    assert outcome.steps == {"ok": "succeeded", "bad": "failed", "after": "not_run"}
    assert outcome.result is None
    assert [call.tool for call in invoker.calls] == ["fetch", "broken"]


def test_a_fatal_error_cancels_the_steps_still_running() -> None:
    async def slow(arguments: dict[str, Any]) -> Any:
        await asyncio.sleep(10)

    async def broken(arguments: dict[str, Any]) -> Any:
        await asyncio.sleep(0.02)
        raise ToolCallError("broken", "no", kind="backend")

    invoker = FakeInvoker({"slow": slow, "broken": broken})
    outcome = run(PlanRunner(invoker), plan({"id": "s", "tool": "slow"}, {"id": "b", "tool": "broken"}))
    assert (outcome.status, outcome.failed_step) == ("failed", "b")
    assert outcome.steps == {"s": "cancelled", "b": "failed"}
    assert invoker.cancelled == ["slow"]
    assert sorted((call.tool, call.error) for call in outcome.tool_calls if not call.ok) == [
        ("broken", "tool 'broken': no"),
        ("slow", "cancelled"),
    ]


def test_a_plan_past_its_time_limit_is_cancelled_with_partial_results() -> None:
    async def slow(arguments: dict[str, Any]) -> Any:
        await asyncio.sleep(10)

    invoker = FakeInvoker({"slow": slow})
    outcome = run(
        PlanRunner(invoker), plan({"id": "f", "tool": "fast"}, {"id": "s", "tool": "slow"}), timeout_s=0.2
    )
    assert (outcome.status, outcome.error_kind, outcome.failed_step) == ("cancelled", "timeout", None)
    assert "did not finish within 0.2 s" in (outcome.error or "")
    assert set(outcome.outputs) == {"f"}
    assert outcome.steps["s"] == "cancelled"
    assert invoker.cancelled == ["slow"]


def test_cancelling_the_run_cancels_its_steps() -> None:
    async def slow(arguments: dict[str, Any]) -> Any:
        await asyncio.sleep(10)

    invoker = FakeInvoker({"slow": slow})

    async def main() -> None:
        task = asyncio.create_task(PlanRunner(invoker).run(plan({"id": "s", "tool": "slow"})))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    assert invoker.cancelled == ["slow"]


def test_idempotency_keys_per_step_stay_the_same_across_retries() -> None:
    invoker = FakeInvoker({"flaky": failing(retryable=True, times=1)})
    outcome = run(
        PlanRunner(invoker, sleep=RecordingSleep()),
        plan({"id": "a", "tool": "flaky"}, {"id": "b", "tool": "fetch"}),
        plan_id="job-42",
    )
    assert outcome.plan_id == "job-42"
    assert sorted((call.tool, call.key) for call in invoker.calls) == [
        ("fetch", "job-42:b"),
        ("flaky", "job-42:a"),
        ("flaky", "job-42:a"),
    ]
    assert current_idempotency_key() is None


def test_idempotency_key_blocks_nest_and_restore() -> None:
    assert current_idempotency_key() is None
    with idempotency_key("outer"):
        with idempotency_key("inner"):
            assert current_idempotency_key() == "inner"
        assert current_idempotency_key() == "outer"
    assert current_idempotency_key() is None


def test_the_plan_id_comes_from_the_plan_or_is_generated() -> None:
    invoker = FakeInvoker()
    run(PlanRunner(invoker), plan({"id": "a", "tool": "fetch"}, id="from-plan"))
    generated = run(PlanRunner(invoker), plan({"id": "a", "tool": "fetch"}))
    assert invoker.calls[0].key == "from-plan:a"
    assert invoker.calls[1].key == f"{generated.plan_id}:a"
    assert len(generated.plan_id) == 32


def test_program_steps_run_through_the_code_runner() -> None:
    invoker = FakeInvoker()
    code_runner = FakeCodeRunner(tool_calls=[("fetch", {"n": 1}), ("echo", {"n": 2})])
    limits = RunLimits(timeout_s=3)
    outcome = run(
        PlanRunner(invoker, code_runner, run_limits=limits),
        plan(
            {"id": "f", "tool": "fast", "arguments": {"q": "x"}},
            {
                "id": "p",
                "program": "r = await fetch(n=1)\nresult = await echo(n=2)",
                "arguments": {"q": {"$ref": "f.arguments.q"}},
            },
            output="p",
        ),
        plan_id="run1",
    )
    assert outcome.status == "succeeded"
    assert outcome.result == {
        "results": [{"tool": "fetch", "arguments": {"n": 1}}, {"tool": "echo", "arguments": {"n": 2}}]
    }
    seen = code_runner.seen[0]
    assert seen["tool_names"] == ["fetch", "echo"]
    assert seen["limits"] is limits
    assert seen["code"].endswith("r = await fetch(n=1)\nresult = await echo(n=2)")
    assert [call.key for call in invoker.calls] == ["run1:f", "run1:p:1", "run1:p:2"]
    assert [call.tool for call in outcome.tool_calls] == ["fast", "fetch", "echo"]


def test_program_source_binds_args_and_inputs_safely() -> None:
    tricky = {"text": 'end"""\nimport os\n\'', "n": [1, None, True]}
    source = program_source("result = (args, inputs)", {"a": tricky}, {"s1": tricky})
    namespace: dict[str, Any] = {}
    exec(compile(source, "<test>", "exec"), namespace)  # noqa: S102 - checks what the sandbox would see
    assert namespace["result"] == ({"a": tricky}, {"s1": tricky})
    assert "os" not in namespace


def test_a_failing_program_fails_its_step() -> None:
    outcome = run(
        PlanRunner(FakeInvoker(), FakeCodeRunner(status="error")), plan({"id": "p", "program": "x"})
    )
    assert (outcome.status, outcome.failed_step, outcome.error_kind) == ("failed", "p", "program")
    assert outcome.error == "the program ended with error: NameError: name 'x' is not defined"


def test_program_steps_need_a_code_runner() -> None:
    outcome = run(PlanRunner(FakeInvoker()), plan({"id": "p", "program": "result = 1"}))
    assert outcome.error_kind == "program"
    assert "need a sandbox" in (outcome.error or "")


def test_an_invoker_breaking_its_contract_fails_the_step_not_the_run() -> None:
    async def crash(arguments: dict[str, Any]) -> Any:
        raise KeyError("boom")

    outcome = run(PlanRunner(FakeInvoker({"broken": crash})), plan({"id": "b", "tool": "broken"}))
    assert (outcome.status, outcome.error_kind) == ("failed", "error")
    assert "KeyError" in (outcome.error or "")


def test_outcome_to_dict_is_json() -> None:
    outcome = run(
        PlanRunner(FakeInvoker({"broken": failing()})),
        plan({"id": "a", "tool": "fetch"}, {"id": "b", "tool": "broken"}),
    )
    data = json.loads(json.dumps(outcome.to_dict()))
    assert data["status"] == "failed"
    assert data["failed_step"] == "b"
    assert data["tool_calls"][0].keys() == {"tool", "arguments", "ok", "duration_ms", "error"}
    assert data["duration_ms"] > 0


def test_a_hand_built_plan_with_a_cycle_fails_instead_of_hanging() -> None:
    cyclic = Plan((Step("a", tool="fetch", depends_on=("b",)), Step("b", tool="fetch", depends_on=("a",))))
    outcome = run(PlanRunner(FakeInvoker()), cyclic)
    assert (outcome.status, outcome.error_kind) == ("failed", "invalid_plan")
    assert outcome.error == "steps a, b can never start: their dependencies form a cycle"


def test_runner_rejects_unusable_settings() -> None:
    with pytest.raises(ValueError, match="max_concurrent"):
        PlanRunner(FakeInvoker(), max_concurrent=0)


def test_a_plan_over_the_demo_tools_end_to_end() -> None:
    executor = ToolExecutor(DEMO_TOOLS.catalog(), {"python": DEMO_TOOLS.backend()})
    the_plan = validate_plan(
        {
            "steps": [
                {
                    "id": "km",
                    "tool": "convert_units",
                    "arguments": {"value": 26.2, "from_unit": "mi", "to_unit": "km"},
                },
                {"id": "pace", "tool": "calculate", "arguments": {"expression": "3.5 * 60"}},
                {"id": "say", "tool": "echo", "arguments": {"text": {"$ref": "km.unit"}}},
            ],
            "output": "say",
        },
        DEMO_TOOLS.catalog(),
    )
    outcome = asyncio.run(PlanRunner(executor.session()).run(the_plan))
    assert outcome.status == "succeeded", outcome.error
    assert outcome.result == {"text": "km"}
    assert outcome.outputs["pace"]["result"] == 210.0
