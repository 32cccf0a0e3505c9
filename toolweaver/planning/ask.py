"""From a request in plain words to a result: plan, run, and (optionally) put the answer in words.

Shared by ``POST /api/runs`` with a ``request``, the ``ask`` job kind and ``python -m toolweaver
ask``, so the three behave the same.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from toolweaver.execution.service import ExecutionService
from toolweaver.planning.planner import Planner, PlanResult


def plan_view(result: PlanResult) -> dict[str, Any]:
    """How a plan is shown: the plan itself, the tools offered, tokens, and how it was made."""
    return {
        "plan": result.plan_dict,
        "tools_offered": list(result.tools),
        "usage": dataclasses.asdict(result.usage),
        "repaired": result.repaired,
        "cached": result.cached,
    }


async def ask(
    planner: Planner, execution: ExecutionService, request: str, *, timeout_s: float, synthesize: bool
) -> dict[str, Any]:
    """Plan ``request``, run the plan, and add an ``answer`` in words when ``synthesize``."""
    planned = await planner.plan(request)
    outcome = (await execution.run_plan(planned.plan_dict, timeout_s=timeout_s)).to_dict()
    answer: dict[str, Any] = {"request": request, **plan_view(planned), "run": outcome}
    if synthesize and outcome["status"] == "succeeded":
        text, usage = await planner.synthesize(request, outcome)
        answer["answer"] = text
        answer["synthesis_usage"] = dataclasses.asdict(usage)
    return answer
