"""An MCP server built with the official SDK (MCPServer, the 2.x FastMCP), on a loopback port.

Tools: ``add`` (structured result), ``city_facts`` (a dict result), ``shout`` (plain text) and
``fail`` (an anticipated tool error). Streamable HTTP at ``<url>``; uvicorn runs in a thread.
``calls`` counts tools/list requests, so tests can tell a cached discovery from a fresh one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from tests.servers.loopback import Running, bound_socket


@dataclass
class ServerState:
    list_calls: int = 0
    tool_calls: list[str] = field(default_factory=list)
    authorizations: list[str] = field(default_factory=list)  # the Authorization header of each request


def build_server(state: ServerState) -> MCPServer:
    server = MCPServer("toolweaver-test", log_level="WARNING")

    @server.tool()
    def add(a: int, b: int) -> int:
        """Add two whole numbers."""
        state.tool_calls.append("add")
        return a + b

    @server.tool(title="City facts")
    def city_facts(city: str) -> dict[str, Any]:
        """Population and country of a city."""
        state.tool_calls.append("city_facts")
        return {"city": city, "country": "France", "population": 2_100_000}

    @server.tool()
    def shout(text: str) -> str:
        """Upper-case the text."""
        state.tool_calls.append("shout")
        return text.upper() + "!"

    @server.tool()
    def fail(message: str) -> str:
        """Always fails with the given message."""
        state.tool_calls.append("fail")
        raise ToolError(f"failed on purpose: {message}")

    original = server.list_tools

    async def counted_list_tools() -> Any:
        state.list_calls += 1
        return await original()

    server.list_tools = counted_list_tools  # type: ignore[method-assign]
    return server


RunningServer = Running[ServerState]


@contextmanager
def running_mcp_server() -> Iterator[RunningServer]:
    """The server on a free loopback port until the block ends."""
    sock, port = bound_socket()
    state = ServerState()
    inner = build_server(state).streamable_http_app(host="127.0.0.1")

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope.get("headers") or [])
            state.authorizations.append(headers.get(b"authorization", b"").decode())
        await inner(scope, receive, send)

    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="mcp-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the MCP test server did not start")
        time.sleep(0.01)
    try:
        yield RunningServer(f"http://127.0.0.1:{port}/mcp", state)
    finally:
        server.should_exit = True
        thread.join(10)
