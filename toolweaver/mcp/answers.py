"""Each meta-tool: decode its arguments into one use case call, encode the answer for the model.

Every function takes the Services and the validated arguments and returns the answer model and
whether it is a failure the model should read as one (MCP's ``isError``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import ValidationError

from toolweaver.app.search import SearchQuery
from toolweaver.mcp.schemas import (
    AskAnswer,
    AskArguments,
    CallAnswer,
    CallArguments,
    CallSummary,
    DescribeAnswer,
    DescribeArguments,
    ProgramAnswer,
    ProgramArguments,
    SearchAnswer,
    SearchArguments,
    SearchHit,
    ToolCallCount,
    ToolDescription,
    UnknownTool,
)
from toolweaver.services import Services

ONE_LINE_CHARS = 160
STDOUT_CHARS = 2000  # the end of what a program printed; the rest would only cost tokens
MAX_ERRORS = 3


def search(services: Services, arguments: SearchArguments) -> tuple[SearchAnswer, bool]:
    query = SearchQuery(
        arguments.query, top_k=arguments.top_k, tags=arguments.tags, backend=arguments.backend
    )
    found = services.tool_search.search(query)
    hits = [
        SearchHit(
            name=hit["name"],
            title=hit["title"],
            description=one_line(hit["description"]),
            score=hit["score"],
            explanation=hit["explanation"],
        )
        for hit in found["results"]
    ]
    return SearchAnswer(query=arguments.query, catalog_version=found["catalog_version"], results=hits), False


def describe(services: Services, arguments: DescribeArguments) -> tuple[DescribeAnswer, bool]:
    tools = services.catalog_tools
    found, missing = tools.find(arguments.names)
    described = [
        ToolDescription(
            name=tool.name,
            title=tool.title,
            description=tool.description,
            input_schema=tool.parameters,
            output_schema=tool.returns,
            examples=list(tool.examples),
            tags=list(tool.tags),
            backend=tool.backend,
        )
        for tool in found
    ]
    unknown = [UnknownTool(name=name, did_you_mean=tools.close_names(name)) for name in missing]
    return DescribeAnswer(tools=described, unknown=unknown), not described


def call(services: Services, arguments: CallArguments) -> tuple[CallAnswer, bool]:
    """ToolCallError (unknown tool, invalid arguments, timeout, ...) propagates: an error result."""
    result, duration_ms = services.catalog_tools.call(arguments.name, dict(arguments.arguments))
    return CallAnswer(name=arguments.name, result=result, duration_ms=round(duration_ms, 3)), False


def program(services: Services, arguments: ProgramArguments) -> tuple[ProgramAnswer, bool]:
    outcome = services.runs.program(
        arguments.code, timeout_s=arguments.timeout_s, max_tool_calls=arguments.max_tool_calls
    )
    stdout = outcome["stdout"] or ""
    answer = ProgramAnswer(
        status=outcome["status"],
        result=outcome["result"],
        error=outcome["error"],
        stdout=stdout[-STDOUT_CHARS:],
        tool_calls=call_summary(outcome["tool_calls"]),
        duration_ms=outcome["duration_ms"],
    )
    return answer, outcome["status"] != "succeeded"


def ask(services: Services, arguments: AskArguments) -> tuple[AskAnswer, bool]:
    done = services.runs.ask(arguments.request, timeout_s=arguments.timeout_s)
    run = done["run"]
    answer = AskAnswer(
        request=arguments.request,
        status=run["status"],
        answer=done.get("answer"),
        result=run["result"],
        error=run["error"],
        tools_used=sorted({call["tool"] for call in run["tool_calls"]}),
        tool_calls=call_summary(run["tool_calls"]),
    )
    return answer, run["status"] != "succeeded"


def call_summary(calls: Iterable[Mapping[str, Any]]) -> CallSummary:
    """How many calls of which tool, how many failed, and the first failures' messages."""
    records = list(calls)
    made = Counter(record["tool"] for record in records)
    failed = Counter(record["tool"] for record in records if not record["ok"])
    errors = [str(record["error"]) for record in records if not record["ok"]][:MAX_ERRORS]
    return CallSummary(
        total=len(records),
        failed=sum(failed.values()),
        tools=[ToolCallCount(name=name, calls=count, failed=failed[name]) for name, count in made.items()],
        errors=errors,
    )


def one_line(text: str) -> str:
    """The first line, cut at a word near ONE_LINE_CHARS: enough to choose, cheap to read."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    if len(line) <= ONE_LINE_CHARS:
        return line
    return line[:ONE_LINE_CHARS].rsplit(" ", 1)[0] + "…"


def validation_text(exc: ValidationError) -> str:
    """Each bad field with pydantic's message, never the rejected value."""
    problems = [
        f"{'.'.join(str(part) for part in err['loc']) or '(arguments)'}: {err['msg']}"
        for err in exc.errors(include_url=False, include_input=False, include_context=False)
    ]
    return "; ".join(problems)
