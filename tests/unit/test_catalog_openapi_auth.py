"""import_openapi's ``auth`` mapping: security schemes of the document -> ToolWeaver auth settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from toolweaver.catalog.openapi import import_openapi, load_openapi

KEY_AUTH = {"type": "secret", "secret": "pets-key", "header": "X-Api-Key"}
MI_AUTH = {"type": "managed_identity", "scope": "api://pets/.default"}


def document(global_security: Any = None, **operations: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "servers": [{"url": "https://pets.example"}],
        "paths": {f"/{name}": {"get": {"operationId": name, **spec}} for name, spec in operations.items()},
    }
    if global_security is not None:
        doc["security"] = global_security
    return doc


def auth_of(doc: dict[str, Any], auth: dict[str, Any] | None) -> dict[str, Any]:
    return {tool.name: tool.backend_config.get("auth") for tool in import_openapi(doc, auth=auth)}


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        pytest.param(
            document(None, open={}, keyed={"security": [{"key": []}]}),
            {"open": None, "keyed": KEY_AUTH},
            id="operation-security",
        ),
        pytest.param(
            document([{"key": []}], inherits={}, opted_out={"security": []}),
            {"inherits": KEY_AUTH, "opted_out": None},
            id="document-security-and-opt-out",
        ),
        pytest.param(
            document(None, either={"security": [{"oauth": []}, {"entra": []}, {"key": []}]}),
            {"either": MI_AUTH},
            id="first-known-alternative",
        ),
        pytest.param(
            document(None, unknown={"security": [{"basic": []}]}), {"unknown": None}, id="unmapped-scheme"
        ),
    ],
)
def test_operations_get_the_auth_of_the_scheme_they_require(
    doc: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert auth_of(doc, {"key": KEY_AUTH, "entra": MI_AUTH}) == expected


def test_without_a_mapping_nothing_is_added() -> None:
    tools = import_openapi(document([{"key": []}], op={}))
    assert "auth" not in tools[0].backend_config


def test_each_tool_gets_its_own_copy() -> None:
    tools = import_openapi(document([{"key": []}], a={}, b={}), auth={"key": KEY_AUTH})
    field = "secret"  # the name of the declared secret each tool carries
    tools[0].backend_config["auth"][field] = "CHANGED"
    assert tools[1].backend_config["auth"][field] == KEY_AUTH[field]
    assert KEY_AUTH == {"type": "secret", "secret": "pets-key", "header": "X-Api-Key"}


def test_load_openapi_passes_the_mapping_on(tmp_path: Path) -> None:
    path = tmp_path / "pets.json"
    path.write_text(json.dumps(document([{"key": []}], op={})), encoding="utf-8")
    assert load_openapi(path, auth={"key": KEY_AUTH})[0].backend_config["auth"] == KEY_AUTH
