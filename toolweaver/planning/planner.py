"""The planner: a request in plain words becomes a validated plan over the catalog's tools.

It offers the model only a few tools (the whole catalog when it is small, else the best search
hits), asks for a plan in structured output with a schema built for those tools (schema.py), and
validates it against exactly the tools offered: a plan naming any other tool is invalid, even one
the catalog has, because the model never saw its schema. An invalid plan gets one repair round
that changes what the model sees: the problems, an example with an offered tool, and a higher
temperature (at temperature 0 the same prompt gives the same invalid plan). A second invalid one
is a PlanningError that lists the problems and how the model's answer began. Valid plans are
cached by request, offered tools and model, and re-validated when reused (the catalog may have
changed under the same names).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from toolweaver.catalog.model import Catalog, Tool
from toolweaver.errors import PlanningError, PlanValidationError, StorageUnavailableError
from toolweaver.execution.plan import Plan, validate_plan
from toolweaver.observability.metrics import PLAN_LATENCY, PLAN_REPAIRS, PLAN_TOKENS, PLANS
from toolweaver.planning import prompt, schema
from toolweaver.planning.ports import ChatModel, ChatReply, ContextWindowError, TokenUsage
from toolweaver.storage.cache import BlobCache, cache_key

log = logging.getLogger(__name__)

MAX_REQUEST_CHARS = 8000
SYNTHESIS_MAX_CHARS = 24_000  # about 6,000 tokens of tool results
PLAN_TEMPERATURE = 0.0  # the same request should get the same plan
REPAIR_TEMPERATURE = 0.5  # ...but not the same invalid plan again
ANSWER_TEMPERATURE = 0.2
# Completion budgets: a plan of schema.PLAN_MAX_STEPS tool steps at about 48 tokens each, plus
# room for one short program; an answer of a few sentences. A model that loops stops there.
PLAN_MAX_TOKENS = schema.PLAN_MAX_STEPS * 48 + 256
ANSWER_MAX_TOKENS = 512
SHOWN_ANSWER_CHARS = 300  # of the model's last invalid answer, in the error
# Tokens kept free in a small context window when fewer tools are offered: a plan, and the
# repair round's additions (the invalid answer, the problems, an example).
CONTEXT_ROOM = 768
# Cached plans are keyed on the prompt too: new instructions should not reuse plans made by old ones.
PROMPT_VERSION = hashlib.sha256(f"{prompt.INSTRUCTIONS}|signatures-1".encode()).hexdigest()[:12]


@dataclass(frozen=True)
class PlanResult:
    """A validated plan, the tools the model was offered (by name), and what it cost."""

    plan: Plan
    plan_dict: dict[str, Any]
    tools: list[str]
    usage: TokenUsage
    repaired: bool  # the first answer was invalid; the repair round fixed it
    cached: bool  # reused from the plan cache: no model call


class Planner:
    """Plans requests with one ChatModel over the current catalog.

    ``catalog`` returns the current catalog; ``find_tools(request, k)`` the k best tools for a
    request (hybrid search). Both are synchronous and may do I/O or CPU work, so they run in a
    worker thread, off the event loop that also runs tool calls. ``cache`` (namespace "plans")
    keeps plans for its TTL; None or a TTL of 0 turns caching off.
    """

    def __init__(
        self,
        chat: ChatModel,
        *,
        catalog: Callable[[], Catalog],
        find_tools: Callable[[str, int], Sequence[Tool]],
        cache: BlobCache | None = None,
        top_k: int = 8,
        full_catalog_max: int = 12,
        synthesis_max_chars: int = SYNTHESIS_MAX_CHARS,
        today: Callable[[], date] = lambda: datetime.now(UTC).date(),
    ) -> None:
        self.chat = chat
        self._catalog = catalog
        self._find_tools = find_tools
        self._cache = cache if cache is not None and cache.ttl_seconds > 0 else None
        self.top_k = top_k
        self.full_catalog_max = full_catalog_max
        self.synthesis_max_chars = synthesis_max_chars
        self._today = today

    async def plan(self, request: str) -> PlanResult:
        """A valid plan for ``request``; PlanningError lists the problems when there is none."""
        started = time.perf_counter()
        outcome = "failed"
        try:
            result = await self._plan(normalise(request))
            outcome = "cache_hit" if result.cached else "repaired" if result.repaired else "planned"
            return result
        finally:
            PLANS.labels(outcome).inc()
            PLAN_LATENCY.labels(outcome).observe(time.perf_counter() - started)

    async def _plan(self, request: str) -> PlanResult:
        offered = await asyncio.to_thread(self.offered_tools, request)
        today = self._today()
        try:
            return await self._plan_with(request, offered, today)
        except ContextWindowError as exc:
            # A small context window (llama.cpp's servers default to 2,048 tokens): offer the
            # best-ranked tools that fit, rather than none.
            ranked = await asyncio.to_thread(self._find_tools, request, len(offered))
            fewer = fitting_tools(ranked, offered, request, today, exc)
            if not fewer:
                raise
            log.warning(
                "the model's context window (%s tokens) cannot hold %d tools; offering %d: %s",
                exc.limit,
                len(offered),
                len(fewer),
                ", ".join(tool.name for tool in fewer),
            )
            return await self._plan_with(request, fewer, today)

    async def _plan_with(self, request: str, offered: list[Tool], today: date) -> PlanResult:
        names = [tool.name for tool in offered]
        allowed = Catalog(offered)
        # The date is part of the prompt, so of the key: "in 3 days" means another date tomorrow.
        hashes = sorted(tool.content_hash for tool in offered)
        key = cache_key("plan", PROMPT_VERSION, self.chat.model, request, hashes, today.isoformat())
        hit = await self._cached(key, allowed)
        if hit is not None:
            return PlanResult(hit, hit.to_dict(), names, TokenUsage(), repaired=False, cached=True)
        messages = prompt.plan_messages(offered, request, today)
        plan, usage, repaired = await self._ask(messages, offered, allowed)
        plan_dict = plan.to_dict()
        await self._store(key, plan_dict)
        log.info(
            "planned %d steps with %d tools offered%s; tokens %d prompt (%d cached), %d completion",
            len(plan.steps),
            len(offered),
            " after a repair round" if repaired else "",
            usage.prompt,
            usage.cached,
            usage.completion,
        )
        return PlanResult(plan, plan_dict, names, usage, repaired=repaired, cached=False)

    def offered_tools(self, request: str) -> list[Tool]:
        """The tools the model sees for ``request``, sorted by name (a stable prompt)."""
        catalog = self._catalog()
        if len(catalog) == 0:
            raise PlanningError("the catalog has no tools to plan with; add or import some first")
        if len(catalog) <= self.full_catalog_max:
            return sorted(catalog, key=lambda tool: tool.name)
        found = {tool.name: tool for tool in self._find_tools(request, self.top_k)}
        if not found:
            raise PlanningError("no tool in the catalog matches the request; describe the task differently")
        return sorted(found.values(), key=lambda tool: tool.name)

    async def _ask(
        self, messages: list[dict[str, Any]], offered: list[Tool], allowed: Catalog
    ) -> tuple[Plan, TokenUsage, bool]:
        response_format = schema.response_format(offered)
        reply = await self._complete(messages, response_format, PLAN_TEMPERATURE, PLAN_MAX_TOKENS)
        plan, problems = _checked(reply, allowed)
        if plan is not None:
            return plan, reply.usage, False
        log.info("the model's plan is invalid (%d problems); one repair round", len(problems))
        PLAN_REPAIRS.inc()
        second = await self._repair(messages, reply, problems, offered, response_format)
        plan, problems = _checked(second, allowed)
        if plan is not None:
            return plan, reply.usage + second.usage, True
        began = " ".join(second.content.split())[:SHOWN_ANSWER_CHARS] or "(nothing)"
        raise PlanningError(
            "the model gave no valid plan, even after a repair round",
            [*problems, f"the model's last answer began: {began}"],
        )

    async def _repair(
        self,
        messages: list[dict[str, Any]],
        reply: ChatReply,
        problems: list[str],
        offered: list[Tool],
        response_format: dict[str, Any],
    ) -> ChatReply:
        """The repair round's answer. In a context window too small for the whole conversation,
        the repair goes without the copy of the invalid answer and with half the budget (it is
        the last round: nothing needs room after it)."""
        for echo, budget in ((True, PLAN_MAX_TOKENS), (False, PLAN_MAX_TOKENS // 2)):
            repair = prompt.repair_messages(messages, reply.content, problems, offered, echo=echo)
            try:
                return await self._complete(repair, response_format, REPAIR_TEMPERATURE, budget)
            except ContextWindowError as exc:
                window = exc
        raise PlanningError(
            "the model gave no valid plan, and the repair round does not fit its context window",
            [*problems, str(window)],
        ) from None

    async def synthesize(self, request: str, run_outcome: Mapping[str, Any]) -> tuple[str, TokenUsage]:
        """An answer in words to ``request`` from a run's outcome (``PlanOutcome.to_dict()``).

        The outcome goes in a delimited data block the model is told never to take instructions
        from: tool outputs may hold text written by anyone (a web page, an email).
        """
        messages = prompt.synthesis_messages(
            normalise(request), run_outcome, max_chars=self.synthesis_max_chars, nonce=secrets.token_hex(8)
        )
        reply = await self._complete(messages, None, ANSWER_TEMPERATURE, ANSWER_MAX_TOKENS)
        return reply.content.strip(), reply.usage

    async def _complete(
        self,
        messages: list[dict[str, Any]],
        response_format: dict[str, Any] | None,
        temperature: float,
        max_tokens: int,
    ) -> ChatReply:
        reply = await self.chat.complete(
            messages, response_format=response_format, temperature=temperature, max_tokens=max_tokens
        )
        PLAN_TOKENS.labels("prompt").inc(reply.usage.prompt)
        PLAN_TOKENS.labels("completion").inc(reply.usage.completion)
        PLAN_TOKENS.labels("cached").inc(reply.usage.cached)
        return reply

    async def _cached(self, key: str, allowed: Catalog) -> Plan | None:
        if self._cache is None:
            return None
        try:
            value = await asyncio.to_thread(self._cache.get, key)
        except StorageUnavailableError as exc:  # planning needs no storage: plan without the cache
            log.warning("plan cache unavailable, planning without it: %s", exc)
            return None
        if value is None:
            return None
        try:
            return validate_plan(value, allowed)
        except PlanValidationError as exc:
            log.info("a cached plan no longer validates (%s); planning again", "; ".join(exc.problems))
            return None

    async def _store(self, key: str, plan_dict: dict[str, Any]) -> None:
        if self._cache is None:
            return
        try:
            await asyncio.to_thread(self._cache.put, key, plan_dict)
        except StorageUnavailableError as exc:
            log.warning("plan cache unavailable, plan not cached: %s", exc)


def fitting_tools(
    ranked: Sequence[Tool], offered: Sequence[Tool], request: str, today: date, exc: ContextWindowError
) -> list[Tool]:
    """The best-ranked of ``offered`` whose prompt leaves CONTEXT_ROOM tokens of the server's
    window, by the server's own count of the prompt that did not fit (spread over its characters).
    Empty when the server gave no figures or not even one tool fits."""
    if exc.limit is None or exc.prompt is None or len(offered) <= 1:
        return []
    messages = prompt.plan_messages(offered, request, today)
    total_chars = sum(len(str(message["content"])) for message in messages)
    per_char = exc.prompt / max(1, total_chars)
    sizes = {tool.name: (len(prompt.describe_tool(tool)) + 2) * per_char for tool in offered}
    used = (total_chars * per_char) - sum(sizes.values())  # instructions and the request
    budget = exc.limit - CONTEXT_ROOM
    chosen: list[Tool] = []
    for tool in [tool for tool in ranked if tool.name in sizes][: len(offered) - 1]:
        if used + sizes[tool.name] > budget:
            break
        used += sizes[tool.name]
        chosen.append(tool)
    return sorted(chosen, key=lambda tool: tool.name)


def normalise(request: str) -> str:
    """The request with runs of whitespace made one space; PlanningError when empty or too long."""
    text = " ".join(request.split()) if isinstance(request, str) else ""
    if not text:
        raise PlanningError("the request is empty: say what you want done")
    if len(text) > MAX_REQUEST_CHARS:
        raise PlanningError(f"the request is {len(text)} characters; at most {MAX_REQUEST_CHARS} are allowed")
    return text


def _checked(reply: ChatReply, allowed: Catalog) -> tuple[Plan | None, list[str]]:
    """The model's answer validated against the offered tools, or the problems to send back."""
    data, problems = prompt.parse_plan(reply.content)
    if data is None:
        if reply.truncated:
            return None, [
                f"the answer stopped at the token limit ({reply.usage.completion or '?'} tokens) before "
                "the plan was complete; write a shorter plan (fewer steps, shorter programs, no repetition)"
            ]
        return None, problems
    reason = data.pop(prompt.CANNOT_PLAN, None)
    if reason is not None and not data.get("steps"):
        raise PlanningError(
            "the model found no way to do the request with the tools offered",
            [f"the model says: {str(reason)[:500]}", "tools offered: " + ", ".join(allowed.names)],
        )
    # A plan id keys the run's idempotency keys: only the caller may set one, never the model
    # (a cached plan with a fixed id would make every later run look like a retry of the first).
    data.pop("id", None)
    if data.get("output") == "":  # the schema asks for output; "" is how a model says "the last step"
        data.pop("output")
    try:
        return validate_plan(data, allowed), []
    except PlanValidationError as exc:
        return None, exc.problems
