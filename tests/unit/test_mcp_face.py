"""The MCP face in process: the official SDK client connected to the server object directly.

The HTTP transport is tested end to end (tests/e2e/test_mcp_e2e.py); these pin what tools/list
shows and how the meta-tools answer, without a host.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from mcp import Client

from tests.fakes import FakeEmbedder
from toolweaver.mcp.schemas import DescribeAnswer, SearchArguments, json_schema
from toolweaver.mcp.server import mcp_server_of
from toolweaver.services import Services
from toolweaver.settings import Settings
from toolweaver.storage.filesystem import FileSystemBlobStore

T = TypeVar("T")
META = ["search_tools", "describe_tools", "call_tool", "run_program"]


def with_client(services: Services, use: Callable[[Client], Awaitable[T]]) -> T:
    async def main() -> T:
        async with Client(mcp_server_of(services).server) as client:
            return await use(client)

    return asyncio.run(main())


def services_with(tmp_path: Path, **settings: Any) -> Services:
    return Services(
        Settings(**settings), cache_store=FileSystemBlobStore(tmp_path / "cache"), embedder=FakeEmbedder()
    )


def test_lists_the_meta_tools_with_both_schemas(services: Services) -> None:
    tools = with_client(services, lambda client: client.list_tools()).tools
    assert [tool.name for tool in tools] == META
    for tool in tools:
        assert tool.input_schema["type"] == "object" and tool.output_schema is not None
        assert "$defs" not in repr(tool.output_schema) and "$ref" not in repr(tool.output_schema)
        assert tool.description


def test_search_description_names_the_catalog(services: Services) -> None:
    tools = with_client(services, lambda client: client.list_tools()).tools
    catalog = services.catalog.current().catalog
    description = tools[0].description or ""
    assert f"catalog of {len(catalog)} tools" in description
    top_tag = services.catalog_tools.summary().main_tags[0][0]
    assert top_tag in description


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        pytest.param({"mcp_pinned_tools": "echo, calculate"}, [*META, "echo", "calculate"], id="pinned"),
        pytest.param({"mcp_pinned_tools": "echo,not_a_tool"}, [*META, "echo"], id="missing-skipped"),
        pytest.param({"mcp_pinned_tools": "search_tools"}, META, id="meta-names-win"),
        pytest.param({"openai_base_url": "http://127.0.0.1:9/v1"}, [*META, "ask"], id="ask-with-a-model"),
    ],
)
def test_tools_list_follows_the_settings(
    tmp_path: Path, settings: dict[str, str], expected: list[str]
) -> None:
    services = services_with(tmp_path, **settings)
    tools = with_client(services, lambda client: client.list_tools()).tools
    assert [tool.name for tool in tools] == expected


def test_a_pinned_tool_is_called_directly(tmp_path: Path) -> None:
    services = services_with(tmp_path, mcp_pinned_tools="echo")
    result = with_client(services, lambda client: client.call_tool("echo", {"text": "hi"}))
    assert not result.is_error and result.structured_content == {"text": "hi"}


def test_describe_answers_schemas_and_suggests_close_names(services: Services) -> None:
    result = with_client(
        services, lambda client: client.call_tool("describe_tools", {"names": ["convert_units", "echoo"]})
    )
    answer = DescribeAnswer.model_validate(result.structured_content)
    tool = services.catalog.current().catalog.get("convert_units")
    assert [t.name for t in answer.tools] == ["convert_units"]
    assert answer.tools[0].input_schema == tool.parameters and answer.tools[0].output_schema == tool.returns
    assert answer.unknown[0].name == "echoo" and "echo" in answer.unknown[0].did_you_mean


@pytest.mark.parametrize(
    ("name", "arguments", "says"),
    [
        pytest.param("search_tools", {"query": ""}, "query", id="empty-query"),
        pytest.param("search_tools", {"query": "x", "top_k": 0}, "top_k", id="top-k"),
        pytest.param("search_tools", {"query": "x", "mode": "bm25"}, "mode", id="unknown-argument"),
        pytest.param("describe_tools", {"names": []}, "names", id="no-names"),
        pytest.param(
            "call_tool", {"name": "convert_units", "arguments": {"value": "ten"}}, "value", id="bad"
        ),
        pytest.param("call_tool", {"name": "no_such_tool"}, "no_such_tool", id="unknown-catalog-tool"),
        pytest.param("run_program", {"code": "result = 1/0"}, "ZeroDivisionError", id="program-error"),
        pytest.param("run_program", {"code": "x", "timeout_s": 61}, "timeout_s", id="too-long"),
    ],
)
def test_failures_are_error_results_that_say_why(
    services: Services, name: str, arguments: dict[str, Any], says: str
) -> None:
    result = with_client(services, lambda client: client.call_tool(name, arguments))
    assert result.is_error
    text = " ".join(getattr(block, "text", "") for block in result.content)
    assert says in text


def test_schemas_are_inlined_and_keep_property_names_called_title() -> None:
    schema = json_schema(SearchArguments, "validation")
    assert "title" not in schema and "title" not in schema["properties"]["query"]
    described = json_schema(DescribeAnswer, "serialization")
    tool = described["properties"]["tools"]["items"]
    assert "title" in tool["properties"] and tool["type"] == "object"  # the property, not a keyword


def test_oauth_metadata_names_the_tenant_and_scope_when_entra_is_configured(tmp_path: Path) -> None:
    from toolweaver.api.http import ApiRequest
    from toolweaver.api.routes import ROUTES, dispatch

    route = next(r for r in ROUTES if r.function_name == "mcp_protected_resource")
    request = ApiRequest("GET", "https://tw.example.net/api/.well-known/oauth-protected-resource")
    plain = Services(Settings(), cache_store=FileSystemBlobStore(tmp_path), embedder=FakeEmbedder())
    assert dispatch(route, request, plain).status == 404
    settings = Settings(entra_tenant_id="tenant-1", entra_client_id="client-1")
    entra = Services(settings, cache_store=FileSystemBlobStore(tmp_path), embedder=FakeEmbedder())
    answer = dispatch(route, request, entra)
    assert answer.status == 200
    metadata = json.loads(answer.body)
    assert metadata["resource"] == "https://tw.example.net/api/mcp"
    assert metadata["authorization_servers"] == ["https://login.microsoftonline.com/tenant-1/v2.0"]
    assert metadata["scopes_supported"] == ["api://client-1/.default"]
