"""Programs, plans and skills over the catalog: the executor, the sandbox and the plan runner.

One ExecutionService per process. It is Azure-free: the composition root hands in the backends
(with their credential factory) and the CodeRunner.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from toolweaver.catalog.model import Catalog, Tool
from toolweaver.execution.backends.base import Backend
from toolweaver.execution.executor import ToolExecutor
from toolweaver.execution.plan import tools_used, validate_plan
from toolweaver.execution.plan_runner import PlanOutcome, PlanRunner
from toolweaver.execution.ports import CodeRunner, JSONValue, RunLimits, RunOutcome, ToolCallError
from toolweaver.observability.metrics import SANDBOX_LATENCY, SANDBOX_RUNS, SKILL_LATENCY, SKILL_RUNS
from toolweaver.settings import Settings
from toolweaver.skill_health import SkillStatsStore
from toolweaver.skills import program_for

log = logging.getLogger(__name__)


class ExecutionService:
    def __init__(
        self,
        catalog: Callable[[], Catalog],
        backends: Mapping[str, Backend],
        code_runner: CodeRunner,
        settings: Settings,
        *,
        skill_stats: SkillStatsStore | None = None,
    ) -> None:
        self.catalog = catalog
        self.code_runner = code_runner
        self.settings = settings
        self.skill_stats = skill_stats  # where skill runs are counted for their health score
        self.executor = ToolExecutor.from_settings(
            catalog, {**backends, "skill": SkillBackend(self)}, settings
        )

    async def run_program(self, code: str, *, limits: RunLimits | None = None) -> RunOutcome:
        """Run ``code`` in the sandbox; each catalog tool it names is an async function there."""
        names = tools_used(code, self.catalog())
        started = time.perf_counter()
        outcome = await self.code_runner.run(
            code, tools=self.executor, tool_names=names, limits=limits or RunLimits()
        )
        SANDBOX_RUNS.labels(outcome.status).inc()
        SANDBOX_LATENCY.observe(time.perf_counter() - started)
        return outcome

    async def run_plan(
        self, plan: Mapping[str, Any], *, plan_id: str | None = None, timeout_s: float | None = None
    ) -> PlanOutcome:
        """Validate ``plan`` against the catalog (PlanValidationError lists every problem), then run it."""
        validated = validate_plan(plan, self.catalog())
        runner = PlanRunner(
            self.executor, self.code_runner, max_concurrent=self.settings.max_concurrent_tools
        )
        return await runner.run(validated, plan_id=plan_id, timeout_s=timeout_s)


class SkillBackend:
    """Calls a skill: its saved code runs in the sandbox with the arguments in ``args``."""

    def __init__(self, service: ExecutionService) -> None:
        self.service = service

    async def call(self, tool: Tool, arguments: dict[str, Any]) -> JSONValue:
        started = time.perf_counter()
        outcome = await self.service.run_program(program_for(tool, arguments))
        seconds = time.perf_counter() - started
        SKILL_RUNS.labels(tool.name, outcome.status).inc()
        SKILL_LATENCY.observe(seconds)
        stats = self.service.skill_stats
        if stats is not None:  # a blob round trip: off the event loop
            await asyncio.to_thread(
                stats.record_run, tool.name, outcome.status == "succeeded", seconds * 1000
            )
        log.info(
            "skill %s v%s: %s in %.0f ms, %d tool calls",
            tool.name,
            tool.backend_config.get("version"),
            outcome.status,
            (time.perf_counter() - started) * 1000,
            len(outcome.tool_calls),
        )
        if outcome.status != "succeeded":
            raise ToolCallError(
                tool.name, f"the skill's program ended {outcome.status}: {outcome.error}", kind="backend"
            )
        return outcome.result
