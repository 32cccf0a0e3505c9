"""The ask meta-tool against a scripted model on loopback, through the SDK client in process."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from tests.fakes import FakeEmbedder
from tests.servers.chat_server import ChatServer, running_chat_server
from toolweaver.mcp.server import mcp_server_of
from toolweaver.services import Services
from toolweaver.settings import Settings
from toolweaver.storage.filesystem import FileSystemBlobStore

PLAN = {"steps": [{"id": "s1", "tool": "calculate", "arguments": {"expression": "6*7"}}], "output": "s1"}


@pytest.fixture
def chat() -> Iterator[ChatServer]:
    with running_chat_server() as server:
        yield server


def ask(chat: ChatServer, tmp_path: Path, request: str) -> Any:
    settings = Settings(openai_base_url=chat.url, openai_model="scripted", planner_full_catalog_max=100)
    services = Services(settings, cache_store=FileSystemBlobStore(tmp_path), embedder=FakeEmbedder())

    async def main() -> Any:
        async with Client(mcp_server_of(services).server) as client:
            listed = [tool.name for tool in (await client.list_tools()).tools]
            assert "ask" in listed
            return await client.call_tool("ask", {"request": request})

    return asyncio.run(main())


def test_ask_plans_runs_and_answers_in_words(chat: ChatServer, tmp_path: Path) -> None:
    chat.enqueue(PLAN)
    chat.enqueue("Six times seven is 42.")
    result = ask(chat, tmp_path, "what is six times seven?")
    answer = result.structured_content
    assert not result.is_error, result.content
    assert answer["status"] == "succeeded" and answer["answer"] == "Six times seven is 42."
    assert answer["result"]["result"] == 42 and answer["tools_used"] == ["calculate"]


def test_a_plan_the_model_cannot_fix_is_an_error_result(chat: ChatServer, tmp_path: Path) -> None:
    bad = {"steps": [{"id": "s1", "tool": "no_such_tool", "arguments": {}}], "output": "s1"}
    chat.enqueue(bad)
    chat.enqueue(bad)  # the repair round gets the same answer
    result = ask(chat, tmp_path, "do the impossible")
    assert result.is_error
    assert "no_such_tool" in " ".join(getattr(block, "text", "") for block in result.content)
