"""The MCP server: meta-tools over the app's use cases, plus the operator's pinned catalog tools.

Built on the official SDK's low-level ``Server``: tools/list is computed per request (the
search_tools description names the current catalog's size and main tags, pinned tools follow
the catalog), and tools/call dispatches to the same use cases as the HTTP API. Handlers run on
the request's own event loop (see ``toolweaver.mcp.http``), so they may call the synchronous use
cases directly.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import mcp_types as types
from mcp.server import CacheHint, Server, ServerRequestContext
from mcp.shared.exceptions import MCPError
from pydantic import BaseModel, ValidationError

from toolweaver import __version__
from toolweaver.catalog.formats import to_mcp
from toolweaver.errors import ToolWeaverError
from toolweaver.execution.ports import ToolCallError
from toolweaver.mcp import answers
from toolweaver.mcp.schemas import (
    AskAnswer,
    AskArguments,
    CallAnswer,
    CallArguments,
    DescribeAnswer,
    DescribeArguments,
    ProgramAnswer,
    ProgramArguments,
    SearchAnswer,
    SearchArguments,
    json_schema,
)
from toolweaver.services import Services

log = logging.getLogger(__name__)

INSTRUCTIONS = (
    "ToolWeaver holds a catalog of tools behind a few meta-tools. Find tools with search_tools, "
    "read their full schemas with describe_tools, then run one with call_tool, or several at once "
    "with run_program (a Python program in a sandbox where each tool is an async function; only "
    "its result comes back)."
)

Handler = Callable[[Services, Any], tuple[BaseModel, bool]]


@dataclass(frozen=True)
class MetaTool:
    name: str
    title: str
    description: str
    arguments: type[BaseModel]
    answer: type[BaseModel]
    handler: Handler
    read_only: bool

    def listing(self, description: str | None = None) -> types.Tool:
        return types.Tool(
            name=self.name,
            title=self.title,
            description=description or self.description,
            input_schema=json_schema(self.arguments, "validation"),
            output_schema=json_schema(self.answer, "serialization"),
            annotations=types.ToolAnnotations(
                read_only_hint=self.read_only, open_world_hint=not self.read_only
            ),
        )


META_TOOLS: tuple[MetaTool, ...] = (
    MetaTool(
        name="search_tools",
        title="Search tools",
        description="",  # built from the catalog on every tools/list
        arguments=SearchArguments,
        answer=SearchAnswer,
        handler=answers.search,
        read_only=True,
    ),
    MetaTool(
        name="describe_tools",
        title="Describe tools",
        description="The full input and output schemas and the examples of the named catalog tools. Call it "
        "before call_tool or run_program for tools whose arguments you do not know.",
        arguments=DescribeArguments,
        answer=DescribeAnswer,
        handler=answers.describe,
        read_only=True,
    ),
    MetaTool(
        name="call_tool",
        title="Call a tool",
        description="Run one catalog tool with its arguments; its result comes back as `result`. A failed "
        "call is an error result saying why (unknown tool, invalid arguments, timeout, ...).",
        arguments=CallArguments,
        answer=CallAnswer,
        handler=answers.call,
        read_only=False,
    ),
    MetaTool(
        name="run_program",
        title="Run a program",
        description="Run a short Python program in a sandbox. Every catalog tool is an async function of its "
        "name taking keyword arguments; `await asyncio.gather(...)` runs calls in parallel. Assign "
        "the answer to `result`: only it, what was printed and a summary of the tool calls come "
        "back, so intermediate results never fill your context. Only pure modules (asyncio, json, "
        "math, re, datetime, collections, ...) may be imported; no files, no network but the tools.",
        arguments=ProgramArguments,
        answer=ProgramAnswer,
        handler=answers.program,
        read_only=False,
    ),
)

ASK = MetaTool(
    name="ask",
    title="Ask",
    description="Hand a whole request to ToolWeaver's planner: it finds the tools, plans the "
    "calls, runs them and answers in words.",
    arguments=AskArguments,
    answer=AskAnswer,
    handler=answers.ask,
    read_only=False,
)


def search_description(services: Services) -> str:
    """What search_tools searches, from the catalog itself, so an agent knows when to call it."""
    summary = services.catalog_tools.summary()
    tags = ", ".join(tag for tag, _ in summary.main_tags) or "none"
    return (
        f"Search a catalog of {summary.size} tools (main tags: {tags}) for the ones that do what "
        "you need, described in plain words; a tool's exact name always comes first. Returns "
        "names, one-line descriptions and scores: then describe_tools for schemas, call_tool or "
        "run_program to use them. Search again whenever a new need comes up."
    )


class ToolWeaverMcp:
    """The low-level SDK server for one process, over its Services."""

    def __init__(self, services: Services) -> None:
        self.services = services
        settings = services.settings
        self.pinned_names = tuple(
            name.strip() for name in settings.mcp_pinned_tools.split(",") if name.strip()
        )
        self._missing_reported: set[str] = set()
        model = bool(settings.azure_openai_endpoint or settings.openai_base_url)
        self.meta_tools: Mapping[str, MetaTool] = {
            tool.name: tool for tool in (*META_TOOLS, *([ASK] if model else []))
        }
        self.server: Server[Any] = Server(
            "toolweaver",
            version=__version__,
            title="ToolWeaver",
            instructions=INSTRUCTIONS,
            on_list_tools=self._list_tools,
            on_call_tool=self._call_tool,
            # Clients of the 2026-07-28 revision may reuse tools/list as long as an instance
            # trusts its copy of the catalog; private, as listings may depend on the caller.
            cache_hints={"tools/list": CacheHint(ttl_ms=settings.catalog_refresh * 1000)},
        )

    def list_tools(self) -> list[types.Tool]:
        """The meta-tools, then the pinned catalog tools that exist (a missing one is skipped)."""
        listed = [
            tool.listing(search_description(self.services) if tool.name == "search_tools" else None)
            for tool in self.meta_tools.values()
        ]
        pinned, missing = self.services.catalog_tools.find(
            name for name in self.pinned_names if name not in self.meta_tools
        )
        if set(missing) - self._missing_reported:  # once per name, not on every listing
            self._missing_reported.update(missing)
            log.warning("MCP_PINNED_TOOLS names tools the catalog lacks: %s", ", ".join(missing))
        listed += [types.Tool.model_validate(to_mcp(tool)) for tool in pinned]
        return listed

    async def _list_tools(
        self, ctx: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        with protocol_errors():
            return types.ListToolsResult(tools=self.list_tools())

    async def _call_tool(
        self, ctx: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        with protocol_errors():
            return self.call(params.name, params.arguments or {})

    def call(self, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        meta = self.meta_tools.get(name)
        if meta is not None:
            return self._call_meta(meta, arguments)
        if name in self.pinned_names and self.services.catalog_tools.find([name])[0]:
            return self._call_pinned(name, arguments)
        raise MCPError(
            types.INVALID_PARAMS,
            f"Unknown tool: {name}; this server lists {', '.join(self.meta_tools)}; "
            "catalog tools are found with search_tools and run with call_tool",
        )

    def _call_meta(self, meta: MetaTool, arguments: dict[str, Any]) -> types.CallToolResult:
        try:
            parsed = meta.arguments.model_validate(arguments)
        except ValidationError as exc:
            return error_result(f"invalid arguments for {meta.name}: {answers.validation_text(exc)}")
        try:
            answer, failed = meta.handler(self.services, parsed)
        except ToolCallError as exc:
            return error_result(str(exc))
        except ToolWeaverError as exc:  # our errors are written for the caller
            return error_result(str(exc))
        structured = answer.model_dump(mode="json")
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=compact(structured))],
            structured_content=structured,
            is_error=failed,
        )

    def _call_pinned(self, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        try:
            result, _ = self.services.catalog_tools.call(name, arguments)
        except ToolWeaverError as exc:
            return error_result(str(exc))
        tool, _ = self.services.catalog_tools.find([name])
        has_schema = bool(tool) and "outputSchema" in to_mcp(tool[0])
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=compact(result))],
            structured_content=result if has_schema and isinstance(result, dict) else None,
        )


@contextmanager
def protocol_errors() -> Iterator[None]:
    """What a handler could not answer becomes a JSON-RPC error with a message for the caller.

    Our own errors (storage unavailable, a bad setting) say what happened; anything else is a
    bug: the caller gets an error id, the log the traceback, as the HTTP API does for a 500.
    """
    try:
        yield
    except MCPError:
        raise
    except ToolWeaverError as exc:
        log.warning("MCP request failed: %s", exc)
        raise MCPError(types.INTERNAL_ERROR, str(exc)) from None
    except Exception:
        error_id = uuid.uuid4().hex[:12]
        log.exception("unhandled MCP error %s", error_id)
        raise MCPError(
            types.INTERNAL_ERROR, f"the server failed to answer; quote error id {error_id} when reporting it"
        ) from None


def error_result(text: str) -> types.CallToolResult:
    """A tool error the model reads and can act on (MCP's isError), not a protocol error."""
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=True)


def compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def mcp_server_of(services: Services) -> ToolWeaverMcp:
    """The MCP server of ``services``, built once (meta-tools over its use cases)."""
    return services.part("mcp", lambda: ToolWeaverMcp(services))
