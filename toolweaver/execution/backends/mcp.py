"""MCP tools: discovered with ``tools/list`` and called with ``tools/call`` over streamable HTTP.

Uses the official ``mcp`` SDK (2.x: ``mcp.Client``). Each discovery and each call opens its own
client session and closes it afterwards: simple, stateless across Functions instances, and safe
when calls run concurrently; the price is a handshake per call (a few ms on a warm connection).

Discovered tools get backend "mcp" and ``backend_config = {"server_url": ..., "tool_name": ...}``
(``tool_name`` is the server's name for the tool, kept in case ours had to be sanitised).
Discovery results are cached in a BlobCache (the "discovery" cache, 24 h) when one is given.
The SDK costs about a second and 60 MB to import, so it loads on the first discovery or call.

Connections go through ``guarded.guarded_httpx2_client``: only where the operator's egress policy
allows, checked on the resolved address. MCP tools carry credentials the way http tools do
(``backend_config.auth``: a declared secret or token scope, bound to its hosts).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from toolweaver.catalog.formats import from_mcp_list
from toolweaver.catalog.model import Tool, sanitize_name, unique_name
from toolweaver.errors import CatalogError
from toolweaver.execution.backends.base import RetryLaterError, excerpt
from toolweaver.execution.backends.credentials import TokenSource, authorization_headers
from toolweaver.execution.egress import EgressDenied, EgressPolicy
from toolweaver.execution.ports import JSONValue, ToolCallError
from toolweaver.execution.trust import ToolTrust
from toolweaver.storage.cache import BlobCache, cache_key

if TYPE_CHECKING:
    from mcp.types import CallToolResult

log = logging.getLogger(__name__)

MAX_PAGES = 100  # tools/list pages followed; a server that never stops paging cannot hang discovery


@contextlib.asynccontextmanager
async def _connection(
    server_url: str, policy: EgressPolicy, headers: dict[str, str], timeout_s: float
) -> AsyncIterator[Any]:
    """A streamable HTTP transport whose HTTP client connects only where ``policy`` allows."""
    from mcp.client.streamable_http import streamable_http_client

    from toolweaver.execution.backends.guarded import guarded_httpx2_client

    http = guarded_httpx2_client(policy, headers=headers, timeout_s=timeout_s)
    try:
        async with streamable_http_client(server_url, http_client=http) as streams:
            yield streams
    finally:
        await http.aclose()


async def discover(
    server_url: str,
    *,
    policy: EgressPolicy,
    cache: BlobCache | None = None,
    timeout_s: float = 30.0,
    refresh: bool = False,
) -> list[Tool]:
    """The tools an MCP server lists, as catalog Tools; from ``cache`` when it has them.

    ``policy`` decides whether ``server_url`` may be reached at all (TOOL_ALLOWED_HOSTS).
    """
    problem = policy.url_problem(server_url)
    if problem is not None:
        raise CatalogError(f"MCP server {server_url}: {problem}")
    key = cache_key("mcp-tools-list", server_url)
    entries = None
    if cache is not None and not refresh:
        entries = await asyncio.to_thread(cache.get, key)
    if not isinstance(entries, list):
        entries = await _list_tools(server_url, policy, timeout_s)
        if cache is not None:
            await asyncio.to_thread(cache.put, key, entries)
    return _to_tools(server_url, entries)


async def _list_tools(server_url: str, policy: EgressPolicy, timeout_s: float) -> list[dict[str, Any]]:
    from mcp import Client

    entries: list[dict[str, Any]] = []
    try:
        async with Client(
            _connection(server_url, policy, {}, timeout_s), read_timeout_seconds=timeout_s
        ) as client:
            cursor: str | None = None
            for _ in range(MAX_PAGES):
                page = await client.list_tools(cursor=cursor)
                entries.extend(
                    tool.model_dump(by_alias=True, exclude_none=True, mode="json") for tool in page.tools
                )
                cursor = page.next_cursor
                if cursor is None:
                    break
    except Exception as exc:
        cause = _leaf(exc)
        raise CatalogError(
            f"MCP server {server_url}: tools/list failed ({_describe(cause)}); check the URL (usually "
            "ending in /mcp) and that the server speaks streamable HTTP"
        ) from cause
    log.debug("discovered %d tools at %s", len(entries), server_url)
    return entries


def _to_tools(server_url: str, entries: list[dict[str, Any]]) -> list[Tool]:
    renamed: list[dict[str, Any]] = []
    original: list[str] = []
    taken: set[str] = set()
    for entry in entries:
        name = str(entry.get("name", ""))
        ours = unique_name(sanitize_name(name), taken)
        taken.add(ours)
        original.append(name)
        renamed.append({**entry, "name": ours})
    tools = from_mcp_list({"tools": renamed})
    return [
        _with_config(tool, {**tool.backend_config, "server_url": server_url, "tool_name": name})
        for tool, name in zip(tools, original, strict=True)
    ]


def _with_config(tool: Tool, config: dict[str, Any]) -> Tool:
    data = tool.to_dict()
    data["backend_config"] = config
    return Tool.from_dict(data)


class McpBackend:
    """Backend for tools with backend "mcp", under the operator's ``trust`` (default: reach nothing)."""

    def __init__(
        self,
        *,
        trust: ToolTrust | None = None,
        environ: Mapping[str, str] | None = None,
        tokens: TokenSource | None = None,
        timeout_s: float = 30.0,
        discovery_cache: BlobCache | None = None,
    ) -> None:
        self.trust = trust if trust is not None else ToolTrust()
        self._environ = environ if environ is not None else {}
        self._tokens = tokens if tokens is not None else TokenSource()
        self.timeout_s = timeout_s
        self.discovery_cache = discovery_cache

    async def discover(self, server_url: str, *, refresh: bool = False) -> list[Tool]:
        return await discover(
            server_url,
            policy=self.trust.egress,
            cache=self.discovery_cache,
            timeout_s=self.timeout_s,
            refresh=refresh,
        )

    async def call(self, tool: Tool, arguments: dict[str, Any]) -> JSONValue:
        server_url = tool.backend_config.get("server_url")
        if not isinstance(server_url, str) or not server_url.startswith(("http://", "https://")):
            raise ToolCallError(tool.name, "backend_config.server_url must be the MCP server's http(s) URL")
        refused = self.trust.problem(tool)
        if refused is not None:
            raise ToolCallError(tool.name, f"{refused[0]}: {refused[1]}", kind="forbidden")
        headers, secrets = await authorization_headers(tool, self.trust, self._environ, self._tokens)
        remote_name = str(tool.backend_config.get("tool_name") or tool.name)
        from mcp import Client

        connection = _connection(server_url, self.trust.egress, headers, self.timeout_s)
        try:
            async with Client(connection, read_timeout_seconds=self.timeout_s) as client:
                result = await client.call_tool(remote_name, arguments)
        except Exception as exc:
            error = _call_error(tool.name, _leaf(exc))
            for secret in secrets:  # the SDK's messages could quote a header back
                if secret and secret in str(error):
                    error = ToolCallError(tool.name, "the MCP call failed", kind=error.kind)
            raise error from None
        return _result_value(tool.name, result)


def _result_value(tool: str, result: CallToolResult) -> JSONValue:
    """Structured content when the tool gave it; else its content blocks (one block: just that)."""
    from mcp.types import TextContent

    if result.is_error:
        text = " ".join(block.text for block in result.content if isinstance(block, TextContent))
        raise ToolCallError(tool, f"the MCP tool reported an error: {excerpt(text) or '(no message)'}")
    if result.structured_content is not None:
        return result.structured_content
    values: list[JSONValue] = []
    for block in result.content:
        if isinstance(block, TextContent):
            values.append(_text_value(block.text))
        else:
            values.append(block.model_dump(by_alias=True, exclude_none=True, mode="json"))
    return values[0] if len(values) == 1 else values


def _text_value(text: str) -> JSONValue:
    """Text that is JSON becomes that JSON (servers often send objects as JSON text)."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _call_error(tool: str, exc: BaseException) -> ToolCallError:
    from mcp import MCPError

    if isinstance(exc, EgressDenied):
        return ToolCallError(tool, str(exc), kind="forbidden")
    if isinstance(exc, MCPError):
        return ToolCallError(tool, f"the MCP server refused the call: {excerpt(str(exc))}", kind="backend")
    # The SDK talks through its own httpx fork (httpx2): its errors are matched by class name.
    bases = {cls.__name__ for cls in type(exc).__mro__}
    if isinstance(exc, TimeoutError) or "TimeoutException" in bases:
        return ToolCallError(tool, "the MCP server did not answer in time", retryable=True, kind="timeout")
    if isinstance(exc, ConnectionError) or "TransportError" in bases:
        return RetryLaterError(tool, f"cannot reach the MCP server ({type(exc).__name__})")
    log.warning("MCP call of %s failed: %s", tool, type(exc).__name__)
    return ToolCallError(tool, f"the MCP call failed ({_describe(exc)})", kind="backend")


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside the ExceptionGroups that anyio task groups wrap errors in."""
    return next(_leaves(exc), exc)


def _leaves(exc: BaseException) -> Iterator[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield from _leaves(inner)
    else:
        yield exc


def _describe(exc: BaseException) -> str:
    text = excerpt(str(exc), 120)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
