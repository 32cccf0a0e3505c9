"""POST /api/mcp through the dev host, with real MCP clients only.

The official Python SDK's streamable HTTP client (from this test process; the host runs in its
own), configured from the README's client block alone; the official TypeScript SDK and the MCP
Inspector CLI under Node.js. Both handshake-era (2025-11-25, `initialize`) and 2026-07-28
(per-request envelope) connections are tested.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess  # nosec B404 - runs the pinned Node.js clients of package.json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx2
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

from tests.e2e.conftest import KEY, HostProcess, host_settings
from toolweaver.devhost.azurite import Azurite
from toolweaver.settings import REPO_DIR

pytestmark = [pytest.mark.azurite, pytest.mark.model, pytest.mark.slow]

T = TypeVar("T")
META = ["search_tools", "describe_tools", "call_tool", "run_program"]
MODES = [pytest.param("legacy", id="2025-11-25"), pytest.param("auto", id="2026-07-28")]
NODE_MODULES = REPO_DIR / "node_modules" / "@modelcontextprotocol"
THREE_TOOLS = """import asyncio
miles, product, echoed = await asyncio.gather(
    convert_units(value=10, from_unit="km", to_unit="mi"),
    calculate(expression="6*7"),
    echo(text="hi"),
)
result = {"miles": miles["value"], "product": product["result"], "echo": echoed["text"]}
"""


def readme_client_config() -> dict[str, Any]:
    """The VS Code mcp.json block of the README's MCP section: the URL and headers users copy."""
    readme = (REPO_DIR / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## MCP server") :]
    block = re.search(r"```json\n(.*?)```", section, re.DOTALL)
    assert block is not None, "the README's MCP section has no mcp.json block"
    server: dict[str, Any] = json.loads(block.group(1))["servers"]["toolweaver"]
    return server


def endpoint(host: HostProcess) -> tuple[str, dict[str, str]]:
    """The README's URL and headers, pointed at this test's host and key."""
    config = readme_client_config()
    assert config["type"] == "http"
    url = config["url"].replace("http://127.0.0.1:7071/api", host.url)
    headers = {name: value.replace("local-dev-key", KEY) for name, value in config["headers"].items()}
    return url, headers


def session(host: HostProcess, mode: str, use: Callable[[Client], Awaitable[T]]) -> T:
    url, headers = endpoint(host)

    async def main() -> T:
        async with (
            httpx2.AsyncClient(headers=headers, timeout=60) as http,
            Client(streamable_http_client(url, http_client=http), mode=mode) as client,
        ):
            return await use(client)

    try:
        return asyncio.run(main())
    except BaseExceptionGroup as group:  # the transport's task group wraps what the call raised
        while isinstance(group, BaseExceptionGroup) and len(group.exceptions) == 1:
            group = group.exceptions[0]
        raise group from None


def text_of(result: Any) -> str:
    return " ".join(getattr(block, "text", "") for block in result.content)


@pytest.fixture(scope="module")
def mcp_host(azurite: Azurite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostProcess]:
    workdir = tmp_path_factory.mktemp("mcp-host")
    settings = host_settings(azurite.connection_string, workdir) | {"MCP_PINNED_TOOLS": "echo"}
    host = HostProcess(settings, workdir)
    host.start()
    yield host
    host.stop()


@pytest.mark.parametrize("mode", MODES)
def test_the_readme_client_finds_and_calls_convert_units(mcp_host: HostProcess, mode: str) -> None:
    async def use(client: Client) -> tuple[Any, Any, Any]:
        listed = await client.list_tools()
        found = await client.call_tool("search_tools", {"query": "how many miles is 10 km"})
        best = found.structured_content["results"][0]["name"]
        called = await client.call_tool(
            "call_tool", {"name": best, "arguments": {"value": 10, "from_unit": "km", "to_unit": "mi"}}
        )
        return listed, found, called

    listed, found, called = session(mcp_host, mode, use)
    assert [tool.name for tool in listed.tools] == [*META, "echo"]  # echo is pinned
    assert all(tool.output_schema for tool in listed.tools)
    assert not found.is_error and found.structured_content["results"][0]["name"] == "convert_units"
    assert not called.is_error
    assert called.structured_content["result"]["value"] == pytest.approx(6.2137, abs=1e-4)
    assert json.loads(text_of(called)) == called.structured_content  # the same JSON as text


@pytest.mark.parametrize("mode", MODES)
def test_a_program_calls_three_tools_in_parallel(mcp_host: HostProcess, mode: str) -> None:
    result = session(mcp_host, mode, lambda client: client.call_tool("run_program", {"code": THREE_TOOLS}))
    answer = result.structured_content
    assert not result.is_error and answer["status"] == "succeeded", answer
    assert answer["result"]["miles"] == pytest.approx(6.2137, abs=1e-4)
    assert answer["result"]["product"] == 42 and answer["result"]["echo"] == "hi"
    calls = answer["tool_calls"]
    assert calls["total"] == 3 and calls["failed"] == 0
    assert sorted(tool["name"] for tool in calls["tools"]) == ["calculate", "convert_units", "echo"]


def test_exact_names_come_first_and_describe_gives_schemas(mcp_host: HostProcess) -> None:
    async def use(client: Client) -> tuple[Any, Any]:
        found = await client.call_tool("search_tools", {"query": "days_between_dates", "top_k": 3})
        described = await client.call_tool("describe_tools", {"names": ["days_between_dates"]})
        return found, described

    found, described = session(mcp_host, "legacy", use)
    assert found.structured_content["results"][0]["name"] == "days_between_dates"
    tool = described.structured_content["tools"][0]
    assert tool["input_schema"]["type"] == "object" and "start" in tool["input_schema"]["properties"]
    assert tool["examples"]


@pytest.mark.parametrize(
    ("name", "arguments", "says"),
    [
        pytest.param(
            "call_tool", {"name": "no_such_tool"}, "no tool named 'no_such_tool'", id="unknown-tool"
        ),
        pytest.param(
            "call_tool",
            {"name": "convert_units", "arguments": {"value": "ten", "from_unit": "km", "to_unit": "mi"}},
            "value",
            id="bad-arguments",
        ),
        pytest.param("search_tools", {"query": "x", "top_k": 1000}, "top_k", id="bad-meta-arguments"),
        pytest.param("run_program", {"code": "result = 1 / 0"}, "ZeroDivisionError", id="program-error"),
        pytest.param("run_program", {"code": "import os"}, "os", id="program-rejected"),
    ],
)
def test_failures_are_error_results_the_model_can_read(
    mcp_host: HostProcess, name: str, arguments: dict[str, Any], says: str
) -> None:
    result = session(mcp_host, "legacy", lambda client: client.call_tool(name, arguments))
    assert result.is_error
    assert says in text_of(result)
    assert "Traceback" not in text_of(result)


@pytest.mark.parametrize("mode", MODES)
def test_an_unknown_tool_is_a_protocol_error(mcp_host: HostProcess, mode: str) -> None:
    with pytest.raises(MCPError) as caught:
        session(mcp_host, mode, lambda client: client.call_tool("no_such_meta_tool", {}))
    assert caught.value.code == -32602 and "search_tools" in caught.value.message


def test_over_the_rate_limit_the_client_is_refused(
    azurite: Azurite, tmp_path_factory: pytest.TempPathFactory
) -> None:
    workdir = tmp_path_factory.mktemp("mcp-limited")
    settings = host_settings(azurite.connection_string, workdir) | {"REQUESTS_PER_MINUTE": "4"}
    host = HostProcess(settings, workdir)
    host.start()
    try:
        answered: list[bool] = []

        async def use(client: Client) -> None:
            for _ in range(10):
                result = await client.call_tool("search_tools", {"query": "send an email"})
                answered.append(not result.is_error)

        with pytest.raises(MCPError):  # the SDK client reports the 429 as an error response
            session(host, "legacy", use)
        # 4 requests a minute: initialize, its notification, the client's own tools/list and the
        # calls; the calls inside the allowance were answered, then the client was refused.
        assert answered and all(answered) and len(answered) < 4
        reply = host.request("POST", "/mcp", {"jsonrpc": "2.0", "id": 1, "method": "ping"})
        assert reply.status == 429 and int(reply.headers["Retry-After"]) > 0
        assert reply.headers["Content-Type"].startswith("application/problem+json")
    finally:
        host.stop()


def node_client(host: HostProcess, script: list[str], cwd: Path = REPO_DIR) -> str:
    node = shutil.which("node")
    if node is None or not (NODE_MODULES / "sdk").is_dir():
        pytest.skip("Node.js or the npm packages of package.json are missing (run `npm ci`)")
    env = {**os.environ, "MCP_URL": f"{host.url}/mcp", "MCP_KEY": KEY}
    done = subprocess.run(  # nosec B603 - fixed arguments, loopback only
        [node, *script], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_typescript_sdk_lists_searches_and_calls(mcp_host: HostProcess) -> None:
    seen = json.loads(node_client(mcp_host, [str(REPO_DIR / "tests/e2e/clients/mcp_client.mjs")]))
    assert [tool["name"] for tool in seen["tools"]] == [*META, "echo"]
    assert all(tool["hasInputSchema"] and tool["hasOutputSchema"] for tool in seen["tools"])
    assert seen["search"]["results"][0]["name"] == "convert_units"
    assert seen["call"]["result"]["value"] == pytest.approx(6.2137, abs=1e-4)
    assert seen["failed"]["isError"] and "no_such_tool" in seen["failed"]["text"]
    assert seen["unknown"]["code"] == -32602


def inspector(host: HostProcess, *arguments: str) -> Any:
    # inspector-cli 1.0.3 finds its own package.json relative to the working directory.
    build = NODE_MODULES / "inspector-cli" / "build"
    if not build.is_dir():
        pytest.skip("the MCP Inspector CLI of package.json is missing (run `npm ci`)")
    target = [str(build / "index.js"), f"{host.url}/mcp", "--transport", "http"]
    target += ["--header", f"x-functions-key: {KEY}", *arguments]
    return json.loads(node_client(host, target, cwd=build))


def test_the_mcp_inspector_cli_lists_and_calls(mcp_host: HostProcess) -> None:
    listed = inspector(mcp_host, "--method", "tools/list")
    assert [tool["name"] for tool in listed["tools"]] == [*META, "echo"]
    called = inspector(
        mcp_host,
        "--method",
        "tools/call",
        "--tool-name",
        "call_tool",
        "--tool-arg",
        "name=convert_units",
        'arguments={"value": 10, "from_unit": "km", "to_unit": "mi"}',
    )
    assert not called["isError"]
    assert called["structuredContent"]["result"]["value"] == pytest.approx(6.2137, abs=1e-4)
