"""The meta-tools' arguments and answers as pydantic models, and their JSON Schemas for tools/list.

Arguments are checked here (``extra="forbid"``, the same size limits as the HTTP API); answers
are built through the output models, so structured content always matches its output schema.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from toolweaver.api.models import HTTP_RUN_SECONDS, MAX_TAGS, Tag, ToolName
from toolweaver.search.engine import MAX_QUERY_CHARS, MAX_TOP_K
from toolweaver.skills import MAX_CODE_CHARS

MAX_DESCRIBE = 20


class _Arguments(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SearchArguments(_Arguments):
    query: str = Field(
        min_length=1,
        max_length=MAX_QUERY_CHARS,
        description="what you want done, in plain words, or a tool's exact name",
    )
    top_k: int = Field(default=5, ge=1, le=MAX_TOP_K, description="how many tools to return")
    tags: list[Tag] | None = Field(
        default=None, max_length=MAX_TAGS, description="only tools with one of these"
    )
    backend: Literal["python", "http", "mcp", "skill", "none"] | None = Field(
        default=None, description="only tools of this backend"
    )


class SearchHit(_Answer):
    name: str
    title: str | None
    description: str = Field(description="the first line of the tool's description")
    score: float
    explanation: str = Field(description="why it matched")


class SearchAnswer(_Answer):
    query: str
    catalog_version: int
    results: list[SearchHit] = Field(description="best first; an exact name match is always first")


class DescribeArguments(_Arguments):
    names: list[ToolName] = Field(min_length=1, max_length=MAX_DESCRIBE, description="tool names")


class ToolDescription(_Answer):
    name: str
    title: str | None
    description: str
    input_schema: dict[str, Any] = Field(description="JSON Schema of the arguments")
    output_schema: dict[str, Any] | None = Field(description="JSON Schema of the result, when known")
    examples: list[dict[str, Any]]
    tags: list[str]
    backend: str


class UnknownTool(_Answer):
    name: str
    did_you_mean: list[str]


class DescribeAnswer(_Answer):
    tools: list[ToolDescription]
    unknown: list[UnknownTool] = Field(description="names not in the catalog, with close names")


class CallArguments(_Arguments):
    name: ToolName = Field(description="the catalog tool to call (from search_tools)")
    arguments: dict[str, Any] = Field(
        default_factory=dict, description="its arguments, as its input schema says"
    )


class CallAnswer(_Answer):
    name: str
    result: Any = Field(description="what the tool returned")
    duration_ms: float


class ProgramArguments(_Arguments):
    code: str = Field(
        min_length=1,
        max_length=MAX_CODE_CHARS,
        description="Python; every catalog tool is an async function (`await convert_units(value=10, "
        "from_unit='km', to_unit='mi')`), asyncio.gather runs calls in parallel; assign the answer "
        "to `result`",
    )
    timeout_s: float = Field(
        default=10.0, gt=0, le=HTTP_RUN_SECONDS, description="wall clock for the program"
    )
    max_tool_calls: int = Field(default=50, ge=1, le=1000, description="tool calls the program may make")


class ToolCallCount(_Answer):
    name: str
    calls: int
    failed: int


class CallSummary(_Answer):
    total: int
    failed: int
    tools: list[ToolCallCount]
    errors: list[str] = Field(description="the first failures' messages")


class ProgramAnswer(_Answer):
    status: Literal["succeeded", "error", "timeout", "killed", "rejected"]
    result: Any = Field(description="the program's `result`")
    error: str | None
    stdout: str = Field(description="what it printed (the end, when long)")
    tool_calls: CallSummary
    duration_ms: float


class AskArguments(_Arguments):
    request: str = Field(min_length=1, max_length=MAX_QUERY_CHARS, description="the request, in plain words")
    timeout_s: float = Field(default=30.0, gt=0, le=HTTP_RUN_SECONDS, description="wall clock for the run")


class AskAnswer(_Answer):
    request: str
    status: str = Field(description="the plan run's status")
    answer: str | None = Field(description="the answer in words, when the run succeeded")
    result: Any = Field(description="the plan's output")
    error: str | None
    tools_used: list[str]
    tool_calls: CallSummary


_NOT_KEYWORDS = frozenset({"properties", "$defs"})  # their keys are names, not schema keywords


def json_schema(model: type[BaseModel], mode: Literal["validation", "serialization"]) -> dict[str, Any]:
    """``model``'s JSON Schema with its ``$defs`` inlined and pydantic's titles dropped.

    Inlined, because some MCP clients do not follow ``$ref``; without titles, because they only
    repeat the property names and every agent reads tools/list on every turn.
    """
    schema = model.model_json_schema(mode=mode)
    definitions = schema.pop("$defs", {})
    cleaned: dict[str, Any] = _clean(schema, definitions)
    return cleaned


def _clean(node: Any, definitions: dict[str, Any], *, names: bool = False) -> Any:
    if isinstance(node, list):
        return [_clean(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if not names and isinstance(ref, str) and ref.startswith("#/$defs/"):
        return _clean(definitions[ref.removeprefix("#/$defs/")], definitions)
    return {
        key: _clean(value, definitions, names=key in _NOT_KEYWORDS and not names)
        for key, value in node.items()
        if names or not (key == "title" and isinstance(value, str))
    }
