"""Import OpenAPI 3.0/3.1 operations as tools (backend "http").

Each operation becomes one tool whose parameters are ONE object schema: every path/query/header/cookie
parameter is a property, and the JSON request body is the property ``body``, so body fields can never
clash with parameter names. ``backend_config`` records where each property goes in the HTTP request.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from toolweaver.catalog.loaders import CATALOG_SUFFIXES, read_structured
from toolweaver.catalog.model import (
    MAX_DESCRIPTION_LENGTH,
    MAX_NAME_LENGTH,
    NAME_PATTERN,
    Tool,
    sanitize_name,
    unique_name,
)
from toolweaver.errors import CatalogError, ToolValidationError

logger = logging.getLogger(__name__)

HTTP_METHODS: tuple[str, ...] = ("get", "put", "post", "delete", "patch", "head", "options")
RECURSIVE_SCHEMA: dict[str, Any] = {"type": "object", "description": "(recursive)"}
_RESPONSE_CODES: tuple[str, ...] = ("200", "201")
_UNDERSCORES = re.compile(r"_+")


def load_openapi(
    path: str | Path, *, server_url: str | None = None, auth: Mapping[str, Mapping[str, Any]] | None = None
) -> list[Tool]:
    """Read an OpenAPI document from a JSON or YAML file and import its operations."""
    file = Path(path)
    if file.suffix.lower() not in CATALOG_SUFFIXES:
        raise CatalogError(f"{file}: unknown OpenAPI file type; use one of {', '.join(CATALOG_SUFFIXES)}")
    document = read_structured(file)
    try:
        return import_openapi(document, server_url=server_url, auth=auth)
    except CatalogError as exc:
        raise CatalogError(f"{file}: {exc}") from exc


def import_openapi(
    document: Mapping[str, Any],
    *,
    server_url: str | None = None,
    auth: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[Tool]:
    """One Tool per operation of an OpenAPI 3.0/3.1 document (already parsed into a mapping).

    ``auth`` maps names of the document's security schemes to ToolWeaver auth settings, e.g.
    ``{"ApiKeyAuth": {"type": "secret", "secret": "pets-key", "header": "X-Api-Key"}}``:
    an operation that requires one of those schemes (its own ``security`` or the document's)
    gets it as ``backend_config["auth"]``. The document cannot say which declared secret
    (TOOL_SECRETS) serves a scheme, so the mapping is the importer's to give.
    """
    paths = _check_document(document)
    resolver = _Resolver(document)
    base_url = server_url if server_url is not None else _default_server(document)
    tools: list[Tool] = []
    taken: set[str] = set()
    for path, raw_item in paths.items():
        item = resolver.resolve(raw_item)
        if not isinstance(item, Mapping):
            raise CatalogError(f"paths[{path!r}]: expected a path item object, got {type(item).__name__}")
        for method in HTTP_METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            if not isinstance(operation, Mapping):
                raise CatalogError(f"{method.upper()} {path}: expected an operation object")
            tool = _operation_tool(
                path=str(path),
                method=method,
                operation=operation,
                shared_parameters=item.get("parameters"),
                server_url=base_url,
                taken=taken,
                auth=_auth_for(operation.get("security", document.get("security")), auth),
            )
            taken.add(tool.name)
            tools.append(tool)
    if not tools:
        raise CatalogError(f"no operations found under 'paths'; expected one of {', '.join(HTTP_METHODS)}")
    logger.debug("imported %d operations from OpenAPI %s", len(tools), document.get("openapi"))
    return tools


def _check_document(document: Any) -> Mapping[str, Any]:
    if not isinstance(document, Mapping):
        raise CatalogError(f"expected an OpenAPI document (an object), got {type(document).__name__}")
    version = document.get("openapi")
    if not isinstance(version, str) or not version.startswith("3."):
        hint = "; Swagger 2.0 documents must be converted to OpenAPI 3 first" if "swagger" in document else ""
        raise CatalogError(f"expected an 'openapi' key with version 3.0.x or 3.1.x, got {version!r}{hint}")
    paths = document.get("paths")
    if not isinstance(paths, Mapping) or not paths:
        raise CatalogError("the document has no 'paths'; expected at least one path with operations")
    return paths


def _default_server(document: Mapping[str, Any]) -> str | None:
    servers = document.get("servers")
    if not isinstance(servers, list) or not servers or not isinstance(servers[0], Mapping):
        return None
    url = servers[0].get("url")
    if not isinstance(url, str):
        return None
    variables = servers[0].get("variables")
    if isinstance(variables, Mapping):
        for var, spec in variables.items():
            if isinstance(spec, Mapping) and "default" in spec:
                url = url.replace("{" + str(var) + "}", str(spec["default"]))
    return url


class _Resolver:
    """Inlines local ``$ref``s; a ref met again inside itself becomes RECURSIVE_SCHEMA."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self._document = document
        self._cache: dict[str, Any] = {}
        self._cycles = 0

    def resolve(self, node: Any, stack: tuple[str, ...] = ()) -> Any:
        if isinstance(node, Mapping):
            ref = node.get("$ref")
            if isinstance(ref, str):
                return self._follow(ref, node, stack)
            return {str(key): self.resolve(value, stack) for key, value in node.items()}
        if isinstance(node, list):
            return [self.resolve(value, stack) for value in node]
        return node

    def _follow(self, ref: str, node: Mapping[str, Any], stack: tuple[str, ...]) -> Any:
        if not ref.startswith("#"):
            raise CatalogError(
                f"external $ref {ref!r} is not supported; bundle the document into one file first"
            )
        if ref in stack:
            self._cycles += 1
            return dict(RECURSIVE_SCHEMA)
        if ref in self._cache:
            resolved = self._cache[ref]
        else:
            cycles_before = self._cycles
            resolved = self.resolve(self._lookup(ref), (*stack, ref))
            # Only a result that met no cycle is independent of the path that reached it.
            if self._cycles == cycles_before:
                self._cache[ref] = resolved
        siblings = {key: value for key, value in node.items() if key != "$ref"}
        if siblings and isinstance(resolved, dict):
            return {**resolved, **self.resolve(siblings, stack)}
        return resolved

    def _lookup(self, ref: str) -> Any:
        target: Any = self._document
        for raw in ref[1:].split("/")[1:]:
            part = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(target, Mapping) and part in target:
                target = target[part]
            elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
                target = target[int(part)]
            else:
                raise CatalogError(f"$ref {ref!r} points to nothing in this document; fix the reference")
        return target


def _operation_tool(
    *,
    path: str,
    method: str,
    operation: Mapping[str, Any],
    shared_parameters: Any,
    server_url: str | None,
    taken: set[str],
    auth: dict[str, Any] | None = None,
) -> Tool:
    where = f"{method.upper()} {path}"
    schema, locations, aliases = _fold_parameters(where, shared_parameters, operation.get("parameters"))
    body_property, content_type = _fold_body(where, operation.get("requestBody"), schema)
    config: dict[str, Any] = {
        "method": method.upper(),
        "path": path,
        "server_url": server_url,
        "parameters": locations,
        "body": body_property,
        "content_type": content_type,
    }
    if aliases:
        config["aliases"] = aliases
    if auth is not None:
        config["auth"] = auth
    tags = operation.get("tags")
    try:
        return Tool(
            name=unique_name(_tool_name(operation.get("operationId"), method, path), taken),
            description=_description(operation, where),
            parameters=schema,
            returns=_returns(operation.get("responses")),
            tags=tuple(str(tag) for tag in tags) if isinstance(tags, list) else (),
            backend="http",
            backend_config=config,
        )
    except ToolValidationError as exc:
        raise CatalogError(f"{where}: {exc}") from exc


def _auth_for(security: Any, auth: Mapping[str, Mapping[str, Any]] | None) -> dict[str, Any] | None:
    """The auth settings of the first scheme ``security`` requires that ``auth`` knows."""
    if not auth or not isinstance(security, list):
        return None
    for requirement in security:
        for scheme in requirement if isinstance(requirement, Mapping) else ():
            if scheme in auth:
                return dict(auth[scheme])
    return None


def _tool_name(operation_id: Any, method: str, path: str) -> str:
    if isinstance(operation_id, str) and NAME_PATTERN.match(operation_id):
        return operation_id
    raw = operation_id if isinstance(operation_id, str) and operation_id else f"{method}_{path}"
    # "get_/pets/{petId}" reads better as "get_pets_petId" than as "get__pets__petId_".
    cleaned = _UNDERSCORES.sub("_", sanitize_name(raw[: MAX_NAME_LENGTH * 2])).strip("_")
    return cleaned[:MAX_NAME_LENGTH] or method


def _description(operation: Mapping[str, Any], where: str) -> str:
    parts = [
        text.strip()
        for text in (operation.get("summary"), operation.get("description"))
        if isinstance(text, str) and text.strip()
    ]
    if len(parts) == 2 and parts[1].startswith(parts[0]):
        parts = parts[1:]
    return ("\n\n".join(parts) or where)[:MAX_DESCRIPTION_LENGTH]


def _fold_parameters(
    where: str, shared: Any, own: Any
) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """Path-level then operation-level parameters (the latter win by (name, in)) as one object schema."""
    merged: dict[tuple[str, str], Mapping[str, Any]] = {}
    for group in (shared, own):
        for param in group if isinstance(group, list) else []:
            if not isinstance(param, Mapping) or not isinstance(param.get("name"), str):
                raise CatalogError(f"{where}: every parameter needs a 'name' and an 'in'")
            merged[(param["name"], str(param.get("in", "query")))] = param
    properties: dict[str, Any] = {}
    required: list[str] = []
    locations: dict[str, str] = {}
    aliases: dict[str, str] = {}
    for (name, location), param in merged.items():
        base = name if NAME_PATTERN.match(name) else sanitize_name(name)
        prop = base if base not in properties else unique_name(f"{base}_{location}", properties)
        if prop != name:
            aliases[prop] = name  # the HTTP request needs the original name
        properties[prop] = _parameter_schema(param)
        locations[prop] = location
        if param.get("required") or location == "path":
            required.append(prop)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema, locations, aliases


def _parameter_schema(param: Mapping[str, Any]) -> dict[str, Any]:
    raw = param.get("schema")
    if not isinstance(raw, Mapping):
        content = param.get("content")
        media = next(iter(content.values()), None) if isinstance(content, Mapping) and content else None
        raw = media.get("schema") if isinstance(media, Mapping) else None
    schema = dict(raw) if isinstance(raw, Mapping) else {}
    description = param.get("description")
    if isinstance(description, str) and description and "description" not in schema:
        schema["description"] = description
    return schema


def _fold_body(where: str, body: Any, schema: dict[str, Any]) -> tuple[str | None, str | None]:
    """Add the request body as one property (normally ``body``); returns (property, content type)."""
    if body is None:
        return None, None
    if not isinstance(body, Mapping):
        raise CatalogError(f"{where}: requestBody must be an object")
    media_type, media = _pick_media(body.get("content"))
    if media_type is None:
        return None, None
    body_schema = dict(media["schema"]) if isinstance(media.get("schema"), Mapping) else {}
    description = body.get("description")
    if isinstance(description, str) and description and "description" not in body_schema:
        body_schema["description"] = description
    prop = unique_name("body", schema["properties"])
    schema["properties"][prop] = body_schema
    if body.get("required"):
        schema.setdefault("required", []).append(prop)
    return prop, media_type


def _pick_media(content: Any) -> tuple[str | None, Mapping[str, Any]]:
    """Prefer application/json, then any +json type, then whatever comes first."""
    if not isinstance(content, Mapping) or not content:
        return None, {}
    candidates = [(str(key), value) for key, value in content.items() if isinstance(value, Mapping)]
    for test in (
        lambda t: t.split(";")[0].strip() == "application/json",
        lambda t: t.split(";")[0].strip().endswith("+json"),
        lambda t: True,
    ):
        for media_type, media in candidates:
            if test(media_type):
                return media_type, media
    return None, {}


def _returns(responses: Any) -> dict[str, Any] | None:
    if not isinstance(responses, Mapping):
        return None
    for code in _RESPONSE_CODES:
        response = responses.get(code, responses.get(int(code)))  # YAML may read 200 as an int
        content = response.get("content") if isinstance(response, Mapping) else None
        if not isinstance(content, Mapping):
            continue
        for media_type, media in content.items():
            is_json = str(media_type).split(";")[0].strip()
            if (is_json == "application/json" or is_json.endswith("+json")) and isinstance(media, Mapping):
                schema = media.get("schema")
                if isinstance(schema, Mapping):
                    return dict(schema)
    return None
