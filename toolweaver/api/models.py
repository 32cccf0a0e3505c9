"""Request bodies at the trust boundary: pydantic models with ``extra="forbid"`` and size limits.

Domain validation (tool names, JSON Schemas) stays in ``toolweaver.catalog``; these models check
shape and size so a request is rejected before any work is done for it.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from toolweaver.catalog.model import MAX_DESCRIPTION_LENGTH, MAX_NAME_LENGTH
from toolweaver.search.engine import MAX_QUERY_CHARS, MAX_TOP_K

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
    backend: Literal["python", "http", "mcp", "none"] | None = None
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


# More kinds join as a union: Annotated[SearchJob | RunJob, Field(discriminator="kind")]
JobRequest = SearchJob
