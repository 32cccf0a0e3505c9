"""OpenAPI 3.0/3.1 import: one tool per operation with one folded object schema."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from toolweaver.catalog import Catalog, import_openapi
from toolweaver.catalog.openapi import RECURSIVE_SCHEMA, load_openapi
from toolweaver.errors import CatalogError

PET: dict[str, Any] = {
    "type": "object",
    "required": ["id", "name"],
    "properties": {
        "id": {"type": "integer", "format": "int64"},
        "name": {"type": "string"},
        "owner": {"$ref": "#/components/schemas/Owner"},
    },
}
OWNER = {"type": "object", "properties": {"email": {"type": "string"}}}
NEW_PET = {"type": "object", "required": ["name"], "properties": {"name": {"type": "string"}, "tag": {}}}
RESOLVED_PET = {**PET, "properties": {**PET["properties"], "owner": OWNER}}

PETSTORE: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Petstore", "version": "1.0"},
    "servers": [{"url": "https://{env}.petstore.example/v1", "variables": {"env": {"default": "api"}}}],
    "paths": {
        "/pets": {
            "get": {
                "operationId": "listPets",
                "summary": "List all pets",
                "description": "Pets are returned newest first.",
                "tags": ["pets"],
                "parameters": [
                    {
                        "name": "limit",
                        "in": "query",
                        "description": "Max items",
                        "schema": {"type": "integer"},
                    },
                    {"$ref": "#/components/parameters/Trace"},
                ],
                "responses": {
                    "200": {
                        "description": "A list",
                        "content": {
                            "application/json": {
                                "schema": {"type": "array", "items": {"$ref": "#/components/schemas/Pet"}}
                            }
                        },
                    }
                },
            },
            "post": {
                "operationId": "createPet",
                "summary": "Create a pet",
                "tags": ["pets", "admin"],
                "requestBody": {"$ref": "#/components/requestBodies/NewPet"},
                "responses": {
                    "201": {
                        "description": "Created",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Pet"}}},
                    }
                },
            },
        },
        "/pets/{petId}": {
            "parameters": [
                {"name": "petId", "in": "path", "required": True, "schema": {"type": "string"}},
                {
                    "name": "verbose",
                    "in": "query",
                    "description": "path level",
                    "schema": {"type": "boolean"},
                },
            ],
            "get": {
                "parameters": [
                    {
                        "name": "verbose",
                        "in": "query",
                        "description": "operation level",
                        "schema": {"type": "boolean"},
                    },
                ],
                "responses": {"404": {"description": "Not found"}},
            },
            "delete": {"operationId": "delete pet!", "description": "Remove a pet.", "responses": {}},
        },
        "/tree": {
            "get": {
                "operationId": "getTree",
                "summary": "Category tree",
                "responses": {
                    "200": {
                        "description": "ok",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Node"}}},
                    }
                },
            }
        },
    },
    "components": {
        "schemas": {
            "Pet": PET,
            "Owner": OWNER,
            "NewPet": NEW_PET,
            "Node": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
                },
            },
        },
        "parameters": {
            "Trace": {"name": "X-Trace", "in": "header", "required": True, "schema": {"type": "string"}},
        },
        "requestBodies": {
            "NewPet": {
                "required": True,
                "description": "The pet to add",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewPet"}}},
            }
        },
    },
}


@pytest.fixture
def tools() -> dict[str, Any]:
    return {tool.name: tool for tool in import_openapi(copy.deepcopy(PETSTORE))}


def test_one_tool_per_operation_with_sanitized_names(tools: dict[str, Any]) -> None:
    assert list(tools) == ["listPets", "createPet", "get_pets_petId", "delete_pet", "getTree"]
    assert all(tool.backend == "http" for tool in tools.values())
    Catalog(tools.values())  # names are unique and valid


def test_query_and_header_parameters_fold_into_one_schema(tools: dict[str, Any]) -> None:
    tool = tools["listPets"]
    assert tool.parameters == {
        "type": "object",
        "properties": {
            "limit": {"type": "integer", "description": "Max items"},
            "X-Trace": {"type": "string"},
        },
        "required": ["X-Trace"],
    }
    assert tool.backend_config == {
        "method": "GET",
        "path": "/pets",
        "server_url": "https://api.petstore.example/v1",
        "parameters": {"limit": "query", "X-Trace": "header"},
        "body": None,
        "content_type": None,
    }
    assert tool.description == "List all pets\n\nPets are returned newest first."
    assert tool.tags == ("pets",)
    assert tool.returns == {"type": "array", "items": RESOLVED_PET}


def test_request_body_becomes_the_body_property(tools: dict[str, Any]) -> None:
    tool = tools["createPet"]
    assert tool.parameters == {
        "type": "object",
        "properties": {"body": {**NEW_PET, "description": "The pet to add"}},
        "required": ["body"],
    }
    assert tool.backend_config["body"] == "body"
    assert tool.backend_config["content_type"] == "application/json"
    assert tool.backend_config["method"] == "POST"
    assert tool.returns == RESOLVED_PET
    assert tool.tags == ("pets", "admin")


def test_path_level_parameters_and_operation_overrides(tools: dict[str, Any]) -> None:
    tool = tools["get_pets_petId"]
    assert tool.parameters == {
        "type": "object",
        "properties": {
            "petId": {"type": "string"},
            "verbose": {"type": "boolean", "description": "operation level"},
        },
        "required": ["petId"],
    }
    assert tool.backend_config["parameters"] == {"petId": "path", "verbose": "query"}
    assert tool.description == "GET /pets/{petId}"
    assert tool.returns is None
    assert tools["delete_pet"].description == "Remove a pet."


def test_cyclic_refs_are_cut(tools: dict[str, Any]) -> None:
    node = tools["getTree"].returns
    assert node["properties"]["children"]["items"] == RECURSIVE_SCHEMA
    assert node["properties"]["name"] == {"type": "string"}
    json.dumps(tools["getTree"].to_dict())  # finite, plain JSON


def test_document_is_not_modified() -> None:
    document = copy.deepcopy(PETSTORE)
    import_openapi(document)
    assert document == PETSTORE


def test_server_url_override() -> None:
    tools = import_openapi(PETSTORE, server_url="http://localhost:8080")
    assert {tool.backend_config["server_url"] for tool in tools} == {"http://localhost:8080"}


def test_openapi_31_document() -> None:
    document = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "webhooks": {"newPet": {"post": {"responses": {}}}},
        "paths": {
            "/search": {
                "post": {
                    "operationId": "search",
                    "parameters": [{"name": "lang", "in": "query", "schema": {"type": ["string", "null"]}}],
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "$ref": "#/components/schemas/Query",
                                    "description": "What to find",
                                }
                            }
                        }
                    },
                    "responses": {"200": {"description": "ok"}},
                }
            }
        },
        "components": {"schemas": {"Query": {"type": "object", "properties": {"q": {"type": "string"}}}}},
    }
    (tool,) = import_openapi(document)
    assert tool.parameters == {
        "type": "object",
        "properties": {
            "lang": {"type": ["string", "null"]},
            "body": {
                "type": "object",
                "properties": {"q": {"type": "string"}},
                "description": "What to find",
            },
        },
    }
    assert tool.backend_config["server_url"] is None


def minimal(operation: dict[str, Any], path: str = "/x", **extra: Any) -> dict[str, Any]:
    return {"openapi": "3.0.0", "paths": {path: {"post": operation}}, **extra}


def test_parameter_named_body_does_not_clash_with_request_body() -> None:
    operation = {
        "operationId": "upload",
        "parameters": [{"name": "body", "in": "query", "schema": {"type": "string"}}],
        "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
    }
    (tool,) = import_openapi(minimal(operation))
    assert list(tool.parameters["properties"]) == ["body", "body_2"]
    assert tool.backend_config["body"] == "body_2"
    assert tool.backend_config["parameters"] == {"body": "query"}


def test_same_name_in_two_locations_gets_an_alias() -> None:
    operation = {
        "operationId": "op",
        "parameters": [
            {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
            {"name": "id", "in": "query", "schema": {"type": "string"}},
            {"name": "filter[tag]", "in": "query", "schema": {"type": "string"}},
        ],
    }
    (tool,) = import_openapi(minimal(operation, "/x/{id}"))
    assert tool.backend_config["parameters"] == {"id": "path", "id_query": "query", "filter_tag_": "query"}
    assert tool.backend_config["aliases"] == {"id_query": "id", "filter_tag_": "filter[tag]"}
    assert tool.parameters["required"] == ["id"]


def test_form_body_is_used_when_there_is_no_json() -> None:
    operation = {
        "operationId": "login",
        "requestBody": {
            "content": {"application/x-www-form-urlencoded": {"schema": {"type": "object"}}},
        },
    }
    (tool,) = import_openapi(minimal(operation))
    assert tool.backend_config["content_type"] == "application/x-www-form-urlencoded"
    assert "required" not in tool.parameters


def test_duplicate_operation_ids_get_numeric_suffixes() -> None:
    document = {
        "openapi": "3.0.0",
        "paths": {"/a": {"get": {"operationId": "fetch"}}, "/b": {"get": {"operationId": "fetch"}}},
    }
    assert [tool.name for tool in import_openapi(document)] == ["fetch", "fetch_2"]


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        pytest.param([], "expected an OpenAPI document", id="not-a-dict"),
        pytest.param({"paths": {"/a": {}}}, "'openapi' key with version 3.0.x or 3.1.x", id="no-openapi"),
        pytest.param({"swagger": "2.0", "paths": {"/a": {}}}, "Swagger 2.0", id="swagger"),
        pytest.param({"openapi": "2.0", "paths": {"/a": {}}}, "3.0.x or 3.1.x", id="old-version"),
        pytest.param({"openapi": "3.0.0"}, "no 'paths'", id="no-paths"),
        pytest.param({"openapi": "3.0.0", "paths": {}}, "no 'paths'", id="empty-paths"),
        pytest.param({"openapi": "3.0.0", "paths": {"/a": {"summary": "x"}}}, "no operations", id="no-ops"),
        pytest.param(
            minimal({"requestBody": {"$ref": "other.yaml#/Body"}}),
            "external \\$ref 'other.yaml#/Body'",
            id="ext",
        ),
        pytest.param(
            minimal({"requestBody": {"$ref": "#/components/requestBodies/Nope"}}),
            "points to nothing",
            id="dangling",
        ),
        pytest.param(minimal({"parameters": [{"in": "query"}]}), "needs a 'name'", id="param-no-name"),
        pytest.param({"openapi": "3.0.0", "paths": {"/a": {"get": "x"}}}, "GET /a", id="operation-str"),
    ],
)
def test_bad_documents(document: Any, problem: str) -> None:
    with pytest.raises(CatalogError, match=problem):
        import_openapi(document)


@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_load_openapi_files(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"api{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(PETSTORE), encoding="utf-8")
    else:
        import yaml

        path.write_text(yaml.safe_dump(PETSTORE), encoding="utf-8")
    tools = load_openapi(path)
    assert [tool.content_hash for tool in tools] == [tool.content_hash for tool in import_openapi(PETSTORE)]


def test_load_openapi_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "api.json"
    path.write_text(json.dumps({"openapi": "3.0.0"}), encoding="utf-8")
    with pytest.raises(CatalogError, match=f"{path}: the document has no 'paths'"):
        load_openapi(path)
    with pytest.raises(CatalogError, match=r"\.json, \.yaml, \.yml"):
        load_openapi(tmp_path / "api.txt")
