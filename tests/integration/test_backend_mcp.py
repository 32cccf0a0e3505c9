"""The mcp backend against a real MCP server (the SDK's MCPServer over streamable HTTP) on loopback."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers.loopback import closed_port
from tests.servers.mcp_server import RunningServer, running_mcp_server
from toolweaver.catalog.model import Catalog, Tool
from toolweaver.errors import CatalogError
from toolweaver.execution.backends.mcp import McpBackend, discover
from toolweaver.execution.executor import ToolExecutor
from toolweaver.execution.ports import ToolCallError
from toolweaver.execution.trust import ToolTrust
from toolweaver.storage import FileSystemBlobStore
from toolweaver.storage.cache import BlobCache

# What an operator would allow for a test server on loopback (any port of 127.0.0.1).
LOOPBACK = ToolTrust.from_settings(allowed_hosts="127.0.0.1", private_networks="127.0.0.0/8")


@pytest.fixture(scope="module")
def server() -> Iterator[RunningServer]:
    with running_mcp_server() as running:
        yield running


@pytest.fixture(scope="module")
def tools(server: RunningServer) -> dict[str, Tool]:
    return {tool.name: tool for tool in asyncio.run(discover(server.url, policy=LOOPBACK.egress))}


def cache(root: Path) -> BlobCache:
    return BlobCache(FileSystemBlobStore(root), "discovery", ttl_seconds=86400)


def run(coro: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await coro

    return asyncio.run(main())


def test_discovery_gives_catalog_tools(server: RunningServer, tools: dict[str, Tool]) -> None:
    assert set(tools) == {"add", "city_facts", "shout", "fail"}
    add = tools["add"]
    assert add.backend == "mcp"
    assert add.backend_config == {"server_url": server.url, "tool_name": "add"}
    assert add.description == "Add two whole numbers."
    assert add.parameters["required"] == ["a", "b"]
    assert add.parameters["properties"]["a"]["type"] == "integer"
    assert tools["city_facts"].title == "City facts"
    Catalog(tools.values())  # valid, unique names


def test_discovery_is_cached_for_a_day(server: RunningServer, tmp_path: Path) -> None:
    before = server.state.list_calls
    first = run(McpBackend(trust=LOOPBACK, discovery_cache=cache(tmp_path)).discover(server.url))
    assert server.state.list_calls == before + 1
    # A new backend and a new cache object over the same blobs: another instance of the app.
    second = run(McpBackend(trust=LOOPBACK, discovery_cache=cache(tmp_path)).discover(server.url))
    assert server.state.list_calls == before + 1
    assert [tool.to_dict() for tool in second] == [tool.to_dict() for tool in first]
    assert len(list(FileSystemBlobStore(tmp_path).list("discovery/"))) == 1
    run(McpBackend(trust=LOOPBACK, discovery_cache=cache(tmp_path)).discover(server.url, refresh=True))
    assert server.state.list_calls == before + 2


def test_without_a_cache_every_discovery_asks_the_server(server: RunningServer) -> None:
    before = server.state.list_calls
    run(discover(server.url, policy=LOOPBACK.egress))
    run(discover(server.url, policy=LOOPBACK.egress))
    assert server.state.list_calls == before + 2


def executor(tools: dict[str, Tool]) -> ToolExecutor:
    return ToolExecutor(Catalog(tools.values()), {"mcp": McpBackend(trust=LOOPBACK, timeout_s=10)})


@pytest.mark.parametrize(
    ("name", "arguments", "expected"),
    [
        pytest.param("add", {"a": 2, "b": 40}, {"result": 42}, id="structured"),
        pytest.param(
            "city_facts",
            {"city": "Paris"},
            {"city": "Paris", "country": "France", "population": 2_100_000},
            id="object",
        ),
        pytest.param("shout", {"text": "hi"}, {"result": "HI!"}, id="text"),
    ],
)
def test_tools_call(tools: dict[str, Tool], name: str, arguments: dict[str, Any], expected: Any) -> None:
    assert run(executor(tools).invoke(name, arguments)) == expected


def test_an_mcp_tool_error_is_a_final_tool_call_error(server: RunningServer, tools: dict[str, Tool]) -> None:
    with pytest.raises(ToolCallError) as info:
        run(executor(tools).invoke("fail", {"message": "on request"}))
    assert (info.value.kind, info.value.retryable) == ("error", False)
    assert "the MCP tool reported an error" in str(info.value)
    assert "failed on purpose: on request" in str(info.value)
    assert "fail" in server.state.tool_calls


def test_arguments_are_validated_before_the_server_sees_them(
    server: RunningServer, tools: dict[str, Tool]
) -> None:
    calls = len(server.state.tool_calls)
    with pytest.raises(ToolCallError) as info:
        run(executor(tools).invoke("add", {"a": "two", "b": 1}))
    assert info.value.kind == "invalid_arguments"
    assert len(server.state.tool_calls) == calls


def test_a_tool_the_server_does_not_have(server: RunningServer) -> None:
    ghost = Tool(
        name="ghost",
        description="Listed once, gone now.",
        backend="mcp",
        backend_config={"server_url": server.url, "tool_name": "ghost"},
    )
    with pytest.raises(ToolCallError) as info:
        run(McpBackend(trust=LOOPBACK).call(ghost, {}))
    assert not info.value.retryable
    assert "ghost" in str(info.value)


def test_the_server_name_is_used_when_ours_differs(server: RunningServer, tools: dict[str, Tool]) -> None:
    renamed = Tool(
        name="remote.shout",
        description="Shout, under another name in our catalog.",
        parameters=tools["shout"].parameters,
        backend="mcp",
        backend_config={"server_url": server.url, "tool_name": "shout"},
    )
    assert run(McpBackend(trust=LOOPBACK).call(renamed, {"text": "x"})) == {"result": "X!"}


def unused_url() -> str:
    return f"http://127.0.0.1:{closed_port()}/mcp"


def test_an_unreachable_server_is_retryable() -> None:
    tool = Tool(name="t", description="d", backend="mcp", backend_config={"server_url": unused_url()})
    with pytest.raises(ToolCallError) as info:
        run(McpBackend(trust=LOOPBACK).call(tool, {}))
    assert info.value.retryable
    assert "cannot reach the MCP server (ConnectError)" in str(info.value)


def test_discovery_of_an_unreachable_server_explains() -> None:
    with pytest.raises(CatalogError, match=r"tools/list failed \(ConnectError"):
        run(discover(unused_url(), policy=LOOPBACK.egress))


def test_a_tool_without_a_server_url() -> None:
    tool = Tool(name="t", description="d", backend="mcp")
    with pytest.raises(ToolCallError, match="server_url must be the MCP server's http"):
        run(McpBackend(trust=LOOPBACK).call(tool, {}))


def test_a_declared_bearer_secret_reaches_the_mcp_server(server: RunningServer) -> None:
    trust = ToolTrust.from_settings(
        allowed_hosts="127.0.0.1",
        private_networks="127.0.0.0/8",
        secrets=json.dumps({"mcp-token": {"setting": "MCP_TOKEN", "hosts": ["127.0.0.1"]}}),
    )
    auth = {"type": "secret", "secret": "mcp-token", "header": "Authorization", "prefix": "Bearer "}
    tool = Tool(
        name="add",
        description="d",
        backend="mcp",
        backend_config={"server_url": server.url, "tool_name": "add", "auth": auth},
    )
    backend = McpBackend(trust=trust, environ={"MCP_TOKEN": "s3cret-value"})
    before = len(server.state.authorizations)
    assert run(backend.call(tool, {"a": 2, "b": 3})) == {"result": 5}
    assert set(server.state.authorizations[before:]) == {"Bearer s3cret-value"}


@pytest.mark.parametrize(
    ("hosts", "networks", "problem"),
    [
        pytest.param("", "127.0.0.0/8", "host not allowed", id="host-not-listed"),
        pytest.param("127.0.0.1", "", "address not allowed: 127.0.0.1 is loopback", id="loopback-closed"),
    ],
)
def test_mcp_egress_is_refused_before_connecting(
    server: RunningServer, hosts: str, networks: str, problem: str
) -> None:
    trust = ToolTrust.from_settings(allowed_hosts=hosts, private_networks=networks)
    tool = Tool(name="add", description="d", backend="mcp", backend_config={"server_url": server.url})
    before = len(server.state.authorizations)
    with pytest.raises(ToolCallError) as info:
        run(McpBackend(trust=trust).call(tool, {"a": 1, "b": 1}))
    assert info.value.kind == "forbidden"
    assert problem in str(info.value)
    assert len(server.state.authorizations) == before
