"""Request bodies at the trust boundary: pydantic models with ``extra="forbid"`` and size limits.

Domain validation (tool names, JSON Schemas) stays in ``toolweaver.catalog``; these models check
shape and size so a request is rejected before any work is done for it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, model_validator

from toolweaver.catalog.model import MAX_DESCRIPTION_LENGTH, MAX_NAME_LENGTH
from toolweaver.execution import budget
from toolweaver.search.engine import MAX_QUERY_CHARS, MAX_TOP_K
from toolweaver.skills import MAX_CODE_CHARS

MAX_TAGS = 32
MAX_BATCH_QUERIES = 100
ToolName = Annotated[str, Field(min_length=1, max_length=MAX_NAME_LENGTH, pattern=r"^[a-zA-Z0-9_.-]+$")]
Tag = Annotated[str, Field(min_length=1, max_length=64)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SearchRequest(_Body):
    """Find the tools that serve a request written in plain language."""

    query: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="the request, in plain words")
    top_k: int = Field(default=5, ge=1, le=MAX_TOP_K, description="how many tools to return")
    mode: Literal["hybrid", "bm25", "dense"] = "hybrid"
    tags: list[Tag] | None = Field(
        default=None, max_length=MAX_TAGS, description="only tools with one of these"
    )
    backend: Literal["python", "http", "mcp", "skill", "none"] | None = None
    min_score: float | None = Field(default=None, ge=-100, le=100, description="drop weaker hits")

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"examples": [{"query": "what will the weather be in Paris tomorrow", "top_k": 3}]},
    )


class ToolBody(_Body):
    """One tool in ToolWeaver's catalog format (the name may be left out on PUT: the path names it)."""

    name: ToolName | None = None
    title: str | None = Field(default=None, max_length=200)
    description: str = Field(min_length=1, max_length=MAX_DESCRIPTION_LENGTH)
    parameters: dict[str, Any] | None = Field(default=None, description="JSON Schema of the arguments")
    returns: dict[str, Any] | None = None
    examples: list[dict[str, Any]] | None = Field(default=None, max_length=50)
    tags: list[Tag] | None = Field(default=None, max_length=MAX_TAGS)
    backend: Literal["python", "http", "mcp", "none"] = "none"
    backend_config: dict[str, Any] | None = None

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "description": "Current weather for a city",
                    "parameters": {
                        "type": "object",
                        "properties": {"city": {"type": "string"}},
                        "required": ["city"],
                    },
                    "tags": ["weather"],
                }
            ]
        },
    )


class RatingBody(_Body):
    """How well a skill served: 1 (useless) to 5 (exactly right)."""

    rating: int = Field(ge=1, le=5, strict=True)

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"examples": [{"rating": 4}]})


class SkillBody(_Body):
    """A program saved as a skill: found by search, called like a tool, run in the sandbox."""

    description: str = Field(min_length=1, max_length=MAX_DESCRIPTION_LENGTH)
    code: str = Field(
        min_length=1, max_length=MAX_CODE_CHARS, description="Python; arguments arrive as `args`"
    )
    parameters: dict[str, Any] | None = Field(default=None, description="JSON Schema of the arguments")
    tags: list[Tag] | None = Field(default=None, max_length=MAX_TAGS)

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "description": "Greet a person by name",
                    "code": "result = (await echo(text='Hello, ' + args['name']))['text']",
                    "parameters": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}},
                        "required": ["name"],
                    },
                }
            ]
        },
    )


class SearchJobInput(_Body):
    queries: list[SearchRequest] = Field(min_length=1, max_length=MAX_BATCH_QUERIES)


class SearchJob(_Body):
    """A batch of searches run on the queue."""

    kind: Literal["search"]
    input: SearchJobInput

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {"kind": "search", "input": {"queries": [{"query": "send an email"}, {"query": "weather"}]}}
            ]
        },
    )


MAX_RUN_SECONDS = budget.MAX_RUN_SECONDS  # a queued run (from functionTimeout); HTTP runs: HTTP_RUN_SECONDS
HTTP_RUN_SECONDS = 60.0


class RunRequest(_Body):
    """Run a program in the sandbox, or a plan (a DAG of tool calls and programs), now."""

    program: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_CODE_CHARS,
        description="Python; assign the answer to `result`",
    )
    plan: dict[str, Any] | None = Field(default=None, description="{'steps': [...], 'output': 'step id'}")
    request: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_QUERY_CHARS,
        description="a request in plain words: planned by the model, then run",
    )
    timeout_s: float = Field(
        default=10.0, gt=0, le=MAX_RUN_SECONDS, description="wall clock for the whole run"
    )
    max_tool_calls: int = Field(default=50, ge=1, le=1000, description="programs: tool calls allowed")

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "examples": [
                {
                    "program": "import asyncio\n"
                    "a, b = await asyncio.gather(echo(text='x'), calculate(expression='6*7'))\n"
                    "result = [a, b]"
                },
                {"plan": {"steps": [{"id": "s1", "tool": "echo", "arguments": {"text": "hi"}}]}},
            ]
        },
    )

    @model_validator(mode="after")
    def _one_kind(self) -> RunRequest:
        if sum(x is not None for x in (self.program, self.plan, self.request)) != 1:
            raise ValueError("give exactly one of 'program', 'plan' and 'request'")
        return self


class PlanRequest(_Body):
    """Plan a request in plain words: the tools are searched, the model writes a validated plan."""

    request: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"examples": [{"request": "how many days until 2027-01-01?"}]},
    )


class AskInput(_Body):
    request: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    timeout_s: float = Field(default=120.0, gt=0, le=MAX_RUN_SECONDS)


class AskJob(_Body):
    """Plan a request, run the plan and answer in words, on the queue."""

    kind: Literal["ask"]
    input: AskInput


class RunJob(_Body):
    """A program or plan run on the queue, for work longer than an HTTP request may take."""

    kind: Literal["run"]
    input: RunRequest


class JobRequest(RootModel[Annotated[SearchJob | RunJob | AskJob, Field(discriminator="kind")]]):
    """A job of any kind; ``kind`` picks the shape of ``input``."""

    model_config = ConfigDict(frozen=True)
