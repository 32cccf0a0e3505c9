"""Catalog: an immutable, ordered collection of uniquely named tools."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import pytest

from toolweaver.catalog.model import Catalog, Tool
from toolweaver.errors import CatalogError, ToolNotFoundError


def make_tool(**overrides: Any) -> Tool:
    values: dict[str, Any] = {"name": "get_weather", "description": "Current weather for a city."}
    values.update(overrides)
    return Tool(**values)


def three_tools() -> list[Tool]:
    return [
        make_tool(name="get_weather", tags=("weather",), backend="http"),
        make_tool(name="send_email", tags=("email", "communication"), backend="python"),
        make_tool(name="send_chat", tags=("communication",), backend="python"),
    ]


def test_catalog_basics() -> None:
    tools = three_tools()
    catalog = Catalog(tools)
    assert len(catalog) == 3
    assert list(catalog) == tools
    assert catalog.tools == tuple(tools)
    assert catalog.names == ("get_weather", "send_email", "send_chat")
    assert "send_email" in catalog
    assert "nope" not in catalog
    assert catalog.get("send_chat") is tools[2]
    assert len(Catalog()) == 0


def test_catalog_rejects_duplicates_by_name() -> None:
    with pytest.raises(CatalogError, match="duplicate tool name 'send_email'"):
        Catalog([*three_tools(), make_tool(name="send_email", description="another")])


def test_catalog_rejects_non_tools() -> None:
    with pytest.raises(CatalogError, match="entry 1"):
        Catalog([make_tool(), {"name": "x"}])  # type: ignore[list-item]


def test_get_unknown_suggests_up_to_five_close_names() -> None:
    catalog = Catalog(make_tool(name=f"send_email_{i}") for i in range(8))
    with pytest.raises(ToolNotFoundError) as info:
        catalog.get("send_emial_1")
    message = str(info.value)
    assert "send_emial_1" in message
    assert "send_email_1" in message
    assert sum(f"'send_email_{i}'" in message for i in range(8)) == 5


def test_get_unknown_without_close_names() -> None:
    with pytest.raises(ToolNotFoundError, match=r"Catalog\.names"):
        Catalog(three_tools()).get("zzzzzz")


def test_catalog_hash_is_order_independent_and_content_sensitive() -> None:
    tools = three_tools()
    a = Catalog(tools)
    assert a.catalog_hash == Catalog(reversed(tools)).catalog_hash
    assert len(a.catalog_hash) == 64
    changed = Catalog([*tools[:2], dataclasses.replace(tools[2], description="changed")])
    assert changed.catalog_hash != a.catalog_hash
    assert Catalog(tools[:2]).catalog_hash != a.catalog_hash
    assert Catalog().catalog_hash == hashlib.sha256(b"").hexdigest()


@pytest.mark.parametrize(
    ("tags", "backend", "expected"),
    [
        pytest.param(["communication"], None, ("send_email", "send_chat"), id="one-tag"),
        pytest.param(["weather", "email"], None, ("get_weather", "send_email"), id="any-tag"),
        pytest.param("weather", None, ("get_weather",), id="tag-as-str"),
        pytest.param(None, "python", ("send_email", "send_chat"), id="backend"),
        pytest.param(["communication"], "http", (), id="both"),
        pytest.param(None, None, ("get_weather", "send_email", "send_chat"), id="no-filter"),
        pytest.param([], None, (), id="empty-tags"),
    ],
)
def test_filter(tags: list[str] | str | None, backend: str | None, expected: tuple[str, ...]) -> None:
    assert Catalog(three_tools()).filter(tags=tags, backend=backend).names == expected


def test_filter_rejects_unknown_backend() -> None:
    with pytest.raises(CatalogError, match="python, http, mcp, skill, none"):
        Catalog(three_tools()).filter(backend="grpc")


def test_with_tools_adds_and_replaces_in_place() -> None:
    catalog = Catalog(three_tools())
    replacement = make_tool(name="send_email", description="Send an email, v2.")
    updated = catalog.with_tools([replacement, make_tool(name="new_tool")])
    assert updated.names == ("get_weather", "send_email", "send_chat", "new_tool")
    assert updated.get("send_email") is replacement
    assert catalog.get("send_email").description == "Current weather for a city."
    assert len(catalog) == 3


def test_without() -> None:
    catalog = Catalog(three_tools())
    assert catalog.without("send_email").names == ("get_weather", "send_chat")
    assert len(catalog) == 3
    with pytest.raises(ToolNotFoundError):
        catalog.without("nope")
