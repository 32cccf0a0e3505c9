"""Running now: a program in the sandbox, a plan, or a request the planner turns into a plan.

A program or plan that fails is an outcome (``status`` error/timeout/...), not an exception.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from toolweaver.execution import budget
from toolweaver.execution.loop import run_sync
from toolweaver.execution.ports import RunLimits
from toolweaver.planning.ask import ask

if TYPE_CHECKING:
    from toolweaver.execution.service import ExecutionService
    from toolweaver.planning.planner import Planner


class Runs:
    """Runs programs, plans and requests on the process's execution loop and waits for them.

    ``execution`` and ``planner`` are called on first need, so a process that never runs
    anything never builds the sandbox, and one without a model fails only when asked to plan
    (PlannerNotConfigured names the settings).
    """

    def __init__(
        self,
        execution: Callable[[], ExecutionService],
        planner: Callable[[], Planner],
        *,
        planner_timeout: float,
        synthesize: bool,
    ) -> None:
        self._execution = execution
        self._planner = planner
        self.planner_timeout = planner_timeout
        self.synthesize = synthesize

    def program(self, code: str, *, timeout_s: float, max_tool_calls: int) -> dict[str, Any]:
        """``{"kind": "program", status, result, stdout, error, tool_calls, duration_ms}``."""
        limits = RunLimits(timeout_s=timeout_s, max_tool_calls=max_tool_calls)
        work = self._execution().run_program(code, limits=limits)
        outcome = run_sync(work, budget.run_seconds(timeout_s))  # capped by the bound deadline
        return {"kind": "program", **dataclasses.asdict(outcome)}

    def plan(self, plan: Mapping[str, Any], *, timeout_s: float) -> dict[str, Any]:
        """``{"kind": "plan", ...}`` with each step's outcome; PlanValidationError before any runs."""
        done = run_sync(self._execution().run_plan(plan, timeout_s=timeout_s), budget.run_seconds(timeout_s))
        return {"kind": "plan", **done.to_dict()}

    def ask(self, request: str, *, timeout_s: float) -> dict[str, Any]:
        """Plan ``request``, run the plan and answer in words (PLANNER_SYNTHESIZE)."""
        work = ask(
            self._planner(), self._execution(), request, timeout_s=timeout_s, synthesize=self.synthesize
        )
        return run_sync(work, budget.ask_seconds(timeout_s, self.planner_timeout))  # capped by the deadline

    def run(
        self,
        *,
        program: str | None = None,
        plan: Mapping[str, Any] | None = None,
        request: str | None = None,
        timeout_s: float,
        max_tool_calls: int,
    ) -> dict[str, Any]:
        """Whichever one of ``program``, ``plan`` and ``request`` is given."""
        if request is not None:
            return {"kind": "request", **self.ask(request, timeout_s=timeout_s)}
        if program is not None:
            return self.program(program, timeout_s=timeout_s, max_tool_calls=max_tool_calls)
        return self.plan(plan or {}, timeout_s=timeout_s)
