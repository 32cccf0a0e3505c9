"""The shape of ``backend_config`` for each backend, checked wherever a tool is made.

Every write path (PUT, import, catalog files, OpenAPI and MCP discovery) builds a ``Tool``, and
``Tool`` calls ``backend_config_problem``, so one set of rules covers them all. These are shape
rules only (known keys, absolute http(s) URLs without credentials, a known auth form); whether a
named secret, token scope or host is allowed is the operator's policy, checked against the
settings in ``toolweaver.execution.trust`` when a tool is written and again when it is called.

Auth forms, the same for http and mcp tools:

    {"type": "none"}                                              no credentials
    {"type": "secret", "secret": "crm-key", "header": "X-Api-Key", "prefix": ""}
                                          a secret the operator declared in TOOL_SECRETS
    {"type": "managed_identity", "scope": "api://crm/.default"}   a token for a scope the
                                          operator declared in TOOL_TOKEN_SCOPES
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

AUTH_TYPES = ("none", "secret", "managed_identity")
_COMMON = frozenset({"annotations"})
KEYS: Mapping[str, frozenset[str]] = {
    "http": _COMMON
    | {"method", "path", "server_url", "parameters", "body", "content_type", "aliases", "auth"},
    "mcp": _COMMON | {"server_url", "tool_name", "auth"},
    "skill": _COMMON | {"code", "version"},
}  # python and none tools reach nothing through their config: free-form metadata is kept
_AUTH_KEYS: Mapping[str, frozenset[str]] = {
    "none": frozenset({"type"}),
    "secret": frozenset({"type", "secret", "header", "prefix"}),
    "managed_identity": frozenset({"type", "scope"}),
}
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
LOCATIONS = ("path", "query", "header", "cookie", "body")
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")  # an RFC 9110 token
# Headers the transport owns; a tool writing them could smuggle a second request or a new host.
RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "cookie"})
SECRET_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


def backend_config_problem(backend: str, config: Mapping[str, Any]) -> tuple[str, str] | None:
    """The first problem as ``(field, message)``, or None when ``config`` fits ``backend``."""
    allowed = KEYS.get(backend)
    unknown = sorted(set(config) - allowed) if allowed is not None else []
    if allowed is not None and unknown:
        return (
            f"backend_config.{unknown[0]}",
            f"is not a {backend} setting; allowed: {', '.join(sorted(allowed)) or 'none'}",
        )
    if backend == "http":
        return _http_problem(config)
    if backend == "mcp":
        return _url_problem(config.get("server_url")) or _auth_problem(config.get("auth"))
    return None


def _http_problem(config: Mapping[str, Any]) -> tuple[str, str] | None:
    method = config.get("method", "GET")
    if not isinstance(method, str) or method.upper() not in HTTP_METHODS:
        return "backend_config.method", f"is {method!r}; use one of {', '.join(HTTP_METHODS)}"
    if not isinstance(config.get("path", ""), str):
        return "backend_config.path", "must be a string such as /v1/items/{id}"
    for key in ("parameters", "aliases"):
        value = config.get(key) or {}
        if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
            return f"backend_config.{key}", "must map property names to strings"
    for prop, where in (config.get("parameters") or {}).items():
        if where not in LOCATIONS:
            return f"backend_config.parameters.{prop}", f"is {where!r}; use one of {', '.join(LOCATIONS)}"
    return _url_problem(config.get("server_url")) or _auth_problem(config.get("auth"))


def _url_problem(url: Any) -> tuple[str, str] | None:
    """None for a usable URL, or for no URL at all (an OpenAPI document without servers: the call
    then says to set one)."""
    field = "backend_config.server_url"
    if url is None:
        return None
    if not isinstance(url, str):
        return field, "must be an absolute http(s) URL"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError as exc:
        return field, f"is not a valid URL ({exc})"
    problems = (
        (parts.scheme not in ("http", "https") or not parts.hostname, "must be an absolute http(s) URL"),
        (
            parts.username is not None or parts.password is not None,
            "must not carry credentials; the operator declares them in TOOL_SECRETS",
        ),
        (bool(parts.fragment or parts.query), "must not have a query or fragment"),
    )
    return next(((field, message) for failed, message in problems if failed), None)


def _auth_problem(auth: Any) -> tuple[str, str] | None:
    if not isinstance(auth, Mapping):
        return None if auth is None else ("backend_config.auth", 'must be an object such as {"type": "none"}')
    kind = auth.get("type")
    if kind not in AUTH_TYPES:
        hint = (
            " (app settings are no longer named by tools: the operator declares the key in "
            "TOOL_SECRETS and the tool names it with type 'secret')"
            if kind == "app_setting_key"
            else ""
        )
        return "backend_config.auth.type", f"is {kind!r}; use one of {', '.join(AUTH_TYPES)}{hint}"
    unknown = sorted(set(auth) - _AUTH_KEYS[kind])
    if unknown:
        return f"backend_config.auth.{unknown[0]}", f"is not part of {kind} auth"
    if kind == "secret":
        return _secret_problem(auth)
    scope = auth.get("scope", "")
    if kind == "managed_identity" and (not isinstance(scope, str) or not scope):
        return "backend_config.auth.scope", "must name a token scope declared in TOOL_TOKEN_SCOPES"
    return None


def _secret_problem(auth: Mapping[str, Any]) -> tuple[str, str] | None:
    secret, header = auth.get("secret"), auth.get("header", "Authorization")
    if not isinstance(secret, str) or not SECRET_NAME.match(secret):
        return "backend_config.auth.secret", "must name a secret declared in TOOL_SECRETS"
    if not isinstance(header, str) or not HEADER_NAME.match(header) or header.lower() in RESERVED_HEADERS:
        return "backend_config.auth.header", f"is {str(header)[:64]!r}; use a header name such as X-Api-Key"
    prefix = auth.get("prefix", "")
    if not isinstance(prefix, str) or len(prefix) > 32 or any(c in prefix for c in "\r\n\0"):
        return "backend_config.auth.prefix", "must be a short single-line string such as 'Bearer '"
    return None
