"""The OpenAPI document matches the functions function_app.py registers, and its examples validate."""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest

from tests.app_functions import functions
from toolweaver.api.routes import openapi_document as document
from toolweaver.settings import REPO_DIR


def registered_http_routes() -> dict[str, set[str]]:
    routes: dict[str, set[str]] = {}
    for function in functions():
        trigger = function.get_trigger().get_dict_repr()
        if trigger["type"] == "httpTrigger":
            path = "/api/" + re.sub(r"\{(\w+)(:\w+)?\??\}", r"{\1}", trigger["route"])
            methods = {str(getattr(m, "value", m)).lower() for m in trigger["methods"]}
            routes.setdefault(path, set()).update(methods)  # operator methods: a function of their own
    return routes


def test_every_registered_route_and_method_is_documented_and_nothing_else() -> None:
    documented = {path: set(item) for path, item in document()["paths"].items()}
    assert documented == registered_http_routes()


def test_only_health_and_the_oauth_metadata_are_anonymous() -> None:
    anonymous = {
        (path, method)
        for path, item in document()["paths"].items()
        for method, operation in item.items()
        if operation["security"] == []
    }
    assert anonymous == {("/api/health", "get"), ("/api/.well-known/oauth-protected-resource", "get")}
    levels = {
        f.get_function_name(): str(f.get_trigger().get_dict_repr().get("authLevel"))
        for f in functions()
        if f.get_trigger().get_dict_repr()["type"] == "httpTrigger"
    }
    assert sorted(name for name, level in levels.items() if "ANONYMOUS" in level.upper()) == [
        "health",
        "mcp_protected_resource",
    ]


def _examples() -> list[Any]:
    doc = document()
    found = []
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            for media in operation.get("requestBody", {}).get("content", {}).values():
                ref = media["schema"].get("$ref")
                if ref:
                    name = ref.rsplit("/", 1)[1]
                    for example in doc["components"]["schemas"][name].get("examples", []):
                        found.append(pytest.param(ref, example, id=f"{method}-{path}"))
    return found


@pytest.mark.parametrize(("ref", "example"), _examples())
def test_request_examples_validate_against_the_document(ref: str, example: Any) -> None:
    doc = document()
    schema = {"$ref": ref, "components": doc["components"]}
    jsonschema.validate(example, schema, cls=jsonschema.Draft202012Validator)


def test_the_document_is_valid_openapi_json() -> None:
    text = json.dumps(document())
    assert json.loads(text)["openapi"].startswith("3.1")
    assert len(_examples()) >= 3


def test_the_readme_mentions_every_route() -> None:
    readme = (REPO_DIR / "README.md").read_text(encoding="utf-8")
    for path in document()["paths"]:
        assert path in readme, f"README does not document {path}"


def test_keyed_operations_document_429_with_retry_after_and_health_does_not() -> None:
    paths = document()["paths"]
    for path, operations in paths.items():
        for method, operation in operations.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            if operation["security"] == []:  # anonymous: never rate limited
                assert "429" not in operation["responses"]
            else:
                assert "Retry-After" in operation["responses"]["429"]["headers"], (path, method)
