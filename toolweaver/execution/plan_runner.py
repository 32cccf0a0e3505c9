"""PlanRunner: runs a validated Plan as waves of ready steps, with retries and partial results.

A step starts as soon as every step it depends on has succeeded (each finished step releases the
next wave), and at most ``max_concurrent`` steps run at once. Tool steps are retried on
retryable errors only (timeouts, 429, 5xx), with exponential backoff and full jitter, or after
the error's ``retry_after`` when the service said when. The first step that fails for good
cancels the steps still running; the outcome keeps the outputs of the steps that finished.

Idempotency: every tool call of a step runs with the key ``<plan_id>:<step_id>`` (the same on
each retry) in ``toolweaver.execution.idempotency``; HTTP tools send it as ``Idempotency-Key``.
Tool calls a program step makes get ``<plan_id>:<step_id>:<n>``, n counting its calls from 1.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from toolweaver.execution.executor import ToolSession
from toolweaver.execution.idempotency import idempotency_key
from toolweaver.execution.plan import Plan, Step, parse_ref
from toolweaver.execution.ports import (
    CodeRunner,
    JSONValue,
    RunLimits,
    ToolCallError,
    ToolCallRecord,
    ToolInvoker,
)

PlanStatus = Literal["succeeded", "failed", "cancelled"]
StepStatus = Literal["succeeded", "failed", "cancelled", "not_run"]


@dataclass(frozen=True)
class PlanOutcome:
    status: PlanStatus
    outputs: Mapping[str, JSONValue] = field(default_factory=dict)  # finished steps only
    failed_step: str | None = None
    error: str | None = None
    tool_calls: tuple[ToolCallRecord, ...] = ()
    duration_ms: float = 0.0
    result: JSONValue = None  # the output of plan.output (or the last step) when it finished
    error_kind: str | None = None  # the ToolCallError kind, "program", "reference" or "timeout"
    steps: Mapping[str, StepStatus] = field(default_factory=dict)
    plan_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "plan_id": self.plan_id,
            "status": self.status,
            "result": self.result,
            "outputs": dict(self.outputs),
            "steps": dict(self.steps),
            "failed_step": self.failed_step,
            "error": self.error,
            "error_kind": self.error_kind,
            "tool_calls": [asdict(call) for call in self.tool_calls],
            "duration_ms": self.duration_ms,
        }


class StepFailed(Exception):
    """A step failed for good; ``kind`` is reported as the outcome's ``error_kind``."""

    def __init__(self, step: str, message: str, kind: str) -> None:
        super().__init__(message)
        self.step = step
        self.kind = kind


class PlanRunner:
    """Runs plans with one ToolInvoker (normally a ToolExecutor) and a CodeRunner for program steps."""

    def __init__(
        self,
        invoker: ToolInvoker,
        code_runner: CodeRunner | None = None,
        *,
        max_concurrent: int = 8,
        retries: int = 2,
        backoff_base: float = 0.2,
        backoff_cap: float = 10.0,
        max_retry_after: float = 30.0,
        run_limits: RunLimits | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if max_concurrent < 1 or retries < 0:
            raise ValueError("max_concurrent must be at least 1 and retries at least 0")
        self.invoker = invoker
        self.code_runner = code_runner
        self.max_concurrent = max_concurrent
        self.retries = retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_retry_after = max_retry_after
        self.run_limits = run_limits or RunLimits()
        self.sleep = sleep
        # Jitter only spreads retries out; it protects no secret, so a plain PRNG is right.
        self._rng = rng or random.Random()  # noqa: S311  # nosec B311

    def retry_delay(self, attempt: int, error: ToolCallError) -> float:
        """Seconds to wait before retry ``attempt`` (0-based): Retry-After, or full jitter backoff."""
        retry_after = getattr(error, "retry_after", None)
        if isinstance(retry_after, int | float) and retry_after >= 0:
            return min(float(retry_after), self.max_retry_after)
        return self._rng.uniform(0.0, min(self.backoff_cap, self.backoff_base * 2**attempt))

    async def run(
        self, plan: Plan, *, plan_id: str | None = None, timeout_s: float | None = None
    ) -> PlanOutcome:
        """Run ``plan``; never raises for a failing step (see PlanOutcome). ``timeout_s`` bounds
        the whole run: past it the remaining steps are cancelled and the status is "cancelled"."""
        run = _Run(self, plan, plan_id or plan.id or uuid.uuid4().hex)
        return await run.execute(timeout_s)


class _Run:
    """The state of one plan run."""

    def __init__(self, runner: PlanRunner, plan: Plan, plan_id: str) -> None:
        self.runner = runner
        self.plan = plan
        self.plan_id = plan_id
        self.session = ToolSession(runner.invoker)
        self.outputs: dict[str, JSONValue] = {}
        self.status: dict[str, StepStatus] = {step.id: "not_run" for step in plan.steps}
        self.semaphore = asyncio.Semaphore(runner.max_concurrent)
        self.started = time.perf_counter()

    async def execute(self, timeout_s: float | None) -> PlanOutcome:
        running: dict[asyncio.Task[JSONValue], str] = {}
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        try:
            while True:
                self._start_ready(running)
                if not running:
                    return self._finished()
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                done, _ = await asyncio.wait(running, timeout=left, return_when=asyncio.FIRST_COMPLETED)
                if not done:
                    await self._cancel(running)
                    message = (
                        f"the plan did not finish within {timeout_s:g} s; unfinished steps were cancelled"
                    )
                    return self._outcome("cancelled", error=message, kind="timeout")
                failure = self._collect(done, running)
                if failure is not None:
                    await self._cancel(running)
                    return self._outcome("failed", failure.step, str(failure), failure.kind)
        except asyncio.CancelledError:
            await self._cancel(running)  # the caller gave up: stop every step, then let it know
            raise

    def _finished(self) -> PlanOutcome:
        stuck = [step for step, status in self.status.items() if status == "not_run"]
        if stuck:  # only a Plan built by hand, without validate_plan, can get here: a cycle
            message = f"steps {', '.join(stuck)} can never start: their dependencies form a cycle"
            return self._outcome("failed", stuck[0], message, "invalid_plan")
        return self._outcome("succeeded")

    def _start_ready(self, running: dict[asyncio.Task[JSONValue], str]) -> None:
        active = set(running.values())
        for step in self.plan.steps:
            if (
                self.status[step.id] == "not_run"
                and step.id not in active
                and all(self.status[dep] == "succeeded" for dep in step.depends_on)
            ):
                running[asyncio.create_task(self._guarded(step), name=f"plan-step-{step.id}")] = step.id

    def _collect(
        self, done: set[asyncio.Task[JSONValue]], running: dict[asyncio.Task[JSONValue], str]
    ) -> StepFailed | None:
        failure: StepFailed | None = None
        for task in done:
            step_id = running.pop(task)
            error = task.exception()
            if error is None:
                self.outputs[step_id] = task.result()
                self.status[step_id] = "succeeded"
            else:
                self.status[step_id] = "failed"
                failure = failure or (error if isinstance(error, StepFailed) else _unexpected(step_id, error))
        return failure

    async def _cancel(self, running: dict[asyncio.Task[JSONValue], str]) -> None:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        for step_id in running.values():
            self.status[step_id] = "cancelled"
        running.clear()

    async def _guarded(self, step: Step) -> JSONValue:
        async with self.semaphore:
            arguments = resolve_refs(step.id, step.arguments or {}, self.outputs)
            if step.program is not None:
                return await self._program(step, arguments)
            return await self._tool(step, step.tool or "", arguments)  # validate_plan: tool or program

    async def _tool(self, step: Step, tool: str, arguments: dict[str, JSONValue]) -> JSONValue:
        runner = self.runner
        with idempotency_key(f"{self.plan_id}:{step.id}"):
            for attempt in range(runner.retries + 1):
                try:
                    return await self.session.invoke(tool, arguments)
                except ToolCallError as exc:
                    if not exc.retryable or attempt == runner.retries:
                        raise StepFailed(step.id, str(exc), exc.kind) from exc
                    await runner.sleep(runner.retry_delay(attempt, exc))
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _program(self, step: Step, arguments: dict[str, JSONValue]) -> JSONValue:
        code_runner = self.runner.code_runner
        if code_runner is None:
            raise StepFailed(step.id, "program steps need a sandbox, and none is configured", "program")
        inputs = {dep: self.outputs[dep] for dep in step.depends_on}
        outcome = await code_runner.run(
            program_source(step.program or "", arguments, inputs),
            tools=_KeyedInvoker(self.session, f"{self.plan_id}:{step.id}"),
            tool_names=step.tools,
            limits=self.runner.run_limits,
        )
        if outcome.status != "succeeded":
            raise StepFailed(step.id, f"the program ended with {outcome.status}: {outcome.error}", "program")
        return outcome.result

    def _outcome(
        self, status: PlanStatus, step: str | None = None, error: str | None = None, kind: str | None = None
    ) -> PlanOutcome:
        return PlanOutcome(
            status=status,
            outputs=dict(self.outputs),
            failed_step=step,
            error=error,
            tool_calls=tuple(self.session.calls),
            duration_ms=round((time.perf_counter() - self.started) * 1000, 3),
            result=self.outputs.get(self.plan.result_step),
            error_kind=kind,
            steps=dict(self.status),
            plan_id=self.plan_id,
        )


class _KeyedInvoker:
    """Gives each tool call of a program step its own idempotency key: ``<prefix>:<n>``."""

    def __init__(self, inner: ToolInvoker, prefix: str) -> None:
        self._inner = inner
        self._prefix = prefix
        self._count = 0

    async def invoke(self, name: str, arguments: dict[str, JSONValue]) -> JSONValue:
        self._count += 1
        with idempotency_key(f"{self._prefix}:{self._count}"):
            return await self._inner.invoke(name, arguments)


def program_source(code: str, arguments: Mapping[str, JSONValue], inputs: Mapping[str, JSONValue]) -> str:
    """The step's code with ``args`` and ``inputs`` bound, the way skills bind ``args``.

    Values travel as JSON text inside string literals and are parsed in the sandbox: JSON string
    escapes are valid Python escapes, so no value can end its literal early.
    """
    args = json.dumps(json.dumps(arguments))
    deps = json.dumps(json.dumps(inputs))
    return f"import json\nargs = json.loads({args})\ninputs = json.loads({deps})\n{code}"


def resolve_refs(step: str, value: Any, outputs: Mapping[str, JSONValue]) -> Any:
    """``value`` with every ``{"$ref": ...}`` replaced by that part of an earlier step's output."""
    if isinstance(value, Mapping):
        ref = value.get("$ref")
        if len(value) == 1 and isinstance(ref, str) and (target := parse_ref(ref)) is not None:
            return _follow(step, ref, target, outputs)
        return {key: resolve_refs(step, item, outputs) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_refs(step, item, outputs) for item in value]
    return value


def _follow(
    step: str, ref: str, target: tuple[str, tuple[str, ...]], outputs: Mapping[str, JSONValue]
) -> Any:
    source, path = target
    if source not in outputs:
        raise StepFailed(step, f"$ref {ref!r}: step {source!r} has no output", "reference")
    value = outputs[source]
    for depth, part in enumerate(path):
        if isinstance(value, Mapping) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            where = ".".join((source, *path[: depth + 1]))
            raise StepFailed(
                step, f"$ref {ref!r}: the output of {source!r} has nothing at {where}", "reference"
            )
    return value


def _unexpected(step: str, error: BaseException) -> StepFailed:
    # The invoker broke its contract (raised something other than ToolCallError): report, don't crash.
    return StepFailed(step, f"the step failed unexpectedly ({type(error).__name__}: {error})", "error")
