"""HTTP tools: operations imported from OpenAPI documents, called with one pooled httpx client.

``backend_config`` (written by ``catalog.openapi.import_openapi``) gives ``method``, ``path``,
``server_url``, ``parameters`` (property -> path | query | header | cookie | body), ``body`` (the
property holding the whole request body), ``content_type``, ``aliases`` (property -> wire name)
and optionally ``auth`` (the forms are in ``toolweaver.catalog.backend_config``): a secret the
operator declared in TOOL_SECRETS, or an Entra ID token for a scope declared in TOOL_TOKEN_SCOPES.
Before every call the operator's policy (``toolweaver.execution.trust``) is asked again, and the
connection itself goes only where TOOL_ALLOWED_HOSTS and the address rules allow
(``toolweaver.execution.backends.guarded``).

Secrets (tokens, keys) never reach logs or error messages: errors quote at most a short excerpt
of the response body, with any secret of the request blanked out.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import time
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from toolweaver.catalog.model import Tool
from toolweaver.execution.backends.base import RetryLaterError, excerpt
from toolweaver.execution.backends.credentials import TokenSource, authorization_headers
from toolweaver.execution.backends.guarded import guarded_httpx_transport
from toolweaver.execution.egress import EgressDenied, EgressPolicy
from toolweaver.execution.idempotency import current_idempotency_key
from toolweaver.execution.ports import JSONValue, ToolCallError
from toolweaver.execution.trust import ToolTrust

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({408, 425, 429})  # and every 5xx
_UNSAFE_HEADER_CHARS = ("\r", "\n", "\0")
_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)
_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[EgressPolicy, httpx.AsyncClient]] = (
    weakref.WeakKeyDictionary()
)


def shared_client(policy: EgressPolicy | None = None) -> httpx.AsyncClient:
    """The process's pooled client for the running event loop and ``policy``, created on first use.

    Connections belong to the loop that opened them, so a process that runs loops one after
    another (CLI, tests) gets one client per loop; the Functions worker has just one. Each client
    connects only where its policy allows (the default policy allows nothing).
    """
    policy = policy if policy is not None else EgressPolicy()
    loop = asyncio.get_running_loop()
    clients = _CLIENTS.setdefault(loop, {})
    client = clients.get(policy)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(
            transport=guarded_httpx_transport(policy, limits=_LIMITS),
            follow_redirects=False,  # a redirect to another host must not carry our credentials
            headers={"User-Agent": "toolweaver"},
            trust_env=False,
        )
        clients[policy] = client
    return client


async def aclose_shared_client() -> None:
    """Close the running loop's shared clients (at shutdown, or at the end of a test's loop)."""
    for client in _CLIENTS.pop(asyncio.get_running_loop(), {}).values():
        await client.aclose()


@dataclass
class _Request:
    method: str
    url: str
    params: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    body: dict[str, Any] = field(default_factory=dict)  # keyword arguments for httpx: json=, data=, ...
    secrets: list[str] = field(default_factory=list)  # blanked out of anything we report


class HttpBackend:
    """Backend for tools with backend "http".

    ``trust`` is the operator's policy (egress, declared secrets and token scopes; by default
    nothing may be reached); ``environ`` holds the app settings that declared secrets name;
    ``credential`` (or ``credential_factory``, called once when first needed) is an object with
    ``get_token(scope)``, sync or async, such as azure-identity's DefaultAzureCredential: the
    execution core imports no Azure SDK, so the composition root passes it in. ``client`` is for
    tests with a mock transport; it skips the connect-time address check, not the policy.
    """

    def __init__(
        self,
        *,
        trust: ToolTrust | None = None,
        environ: Mapping[str, str] | None = None,
        credential: Any = None,
        credential_factory: Callable[[], Any] | None = None,
        tokens: TokenSource | None = None,
        timeout_s: float = 30.0,
        max_response_bytes: int = 1024 * 1024,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.trust = trust if trust is not None else ToolTrust()
        self._environ = environ if environ is not None else {}
        self._tokens = tokens if tokens is not None else TokenSource(credential, credential_factory)
        self._timeout = httpx.Timeout(timeout_s, connect=min(10.0, timeout_s))
        self.max_response_bytes = max_response_bytes
        self._client = client

    async def call(self, tool: Tool, arguments: dict[str, Any]) -> JSONValue:
        request = build_request(tool, arguments)
        refused = self.trust.problem(tool)
        if refused is not None:
            raise ToolCallError(tool.name, f"{refused[0]}: {refused[1]}", kind="forbidden")
        headers, secrets = await authorization_headers(tool, self.trust, self._environ, self._tokens)
        request.headers.update(headers)
        request.secrets.extend(secrets)
        key = current_idempotency_key()
        if key is not None:
            request.headers["Idempotency-Key"] = key
        client = self._client or shared_client(self.trust.egress)
        try:
            async with client.stream(
                request.method,
                request.url,
                params=tuple(request.params),
                headers=request.headers,
                timeout=self._timeout,
                **request.body,
            ) as response:
                return await self._answer(tool, request, response)
        except EgressDenied as exc:
            raise ToolCallError(tool.name, str(exc), kind="forbidden") from None
        except httpx.TimeoutException:
            raise ToolCallError(
                tool.name, "the HTTP request timed out", retryable=True, kind="timeout"
            ) from None
        except httpx.TransportError as exc:
            # Connection refused, reset, DNS: the service may be back in a moment.
            raise RetryLaterError(tool.name, f"HTTP request failed: {type(exc).__name__}") from None

    async def _answer(self, tool: Tool, request: _Request, response: httpx.Response) -> JSONValue:
        status = response.status_code
        if status >= 300:
            body = await _read_capped(response, 4096)
            detail = _scrub(excerpt(body.decode("utf-8", "replace")), request.secrets)
            message = f"HTTP {status} {response.reason_phrase} from {request.method} {_path_of(request.url)}"
            message += f": {detail}" if detail else ""
            if status in RETRYABLE_STATUSES or status >= 500:
                raise RetryLaterError(tool.name, message, retry_after=retry_after_seconds(response))
            if status < 400:
                message += (
                    f" (redirect to {response.headers.get('location', '?')}; update the tool's server_url)"
                )
            raise ToolCallError(tool.name, message, kind="backend")
        declared = response.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_response_bytes:
            raise self._too_large(tool)
        data = await _read_capped(response, self.max_response_bytes)
        if len(data) > self.max_response_bytes:
            raise self._too_large(tool)
        return _decode(tool, response, data)

    def _too_large(self, tool: Tool) -> ToolCallError:
        return ToolCallError(
            tool.name,
            f"the response is larger than {self.max_response_bytes} bytes; ask for less (filters, "
            "paging) or raise MAX_TOOL_RESPONSE_BYTES",
            kind="limit",
        )

    async def aclose(self) -> None:
        """Close the client this backend was given (the shared one lives as long as its loop)."""
        if self._client is not None:
            await self._client.aclose()


def build_request(tool: Tool, arguments: Mapping[str, Any]) -> _Request:
    """Method, URL, query, headers and body for ``arguments``, as ``backend_config`` maps them."""
    config = tool.backend_config
    server = config.get("server_url")
    if not isinstance(server, str) or not server.startswith(("http://", "https://")):
        raise ToolCallError(
            tool.name,
            f"backend_config.server_url is {server!r}; it needs an absolute http(s) URL (import the "
            "OpenAPI document with server_url=...)",
        )
    locations: Mapping[str, str] = config.get("parameters") or {}
    aliases: Mapping[str, str] = config.get("aliases") or {}
    body_property = config.get("body")
    path = str(config.get("path", ""))
    request = _Request(method=str(config.get("method", "GET")).upper(), url="")
    fields: dict[str, Any] = {}
    cookies: list[str] = []
    for prop, value in arguments.items():
        wire = aliases.get(prop, prop)
        where = locations.get(prop, "body" if prop == body_property else "query")
        if prop == body_property:
            _set_body(tool, request, config.get("content_type"), value)
        elif where == "path":
            path = path.replace("{" + wire + "}", _path_segment(tool, prop, value))
        elif where == "query":
            request.params.extend((wire, _text(item)) for item in _items(value))
        elif where == "header":
            request.headers[wire] = _header_value(tool, prop, value)
        elif where == "cookie":
            cookies.append(f"{wire}={quote(_text(value), safe='')}")
        else:
            fields[wire] = value  # hand-written catalogs name single JSON body fields "body"
    if fields:
        _set_body(tool, request, config.get("content_type"), fields)
    if cookies:
        request.headers["Cookie"] = "; ".join(cookies)
    if "{" in path:
        raise ToolCallError(tool.name, f"no value for the path parameter in {path}", kind="invalid_arguments")
    request.url = server.rstrip("/") + "/" + path.lstrip("/")
    return request


def _set_body(tool: Tool, request: _Request, content_type: Any, value: Any) -> None:
    media = str(content_type or "application/json").split(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        request.body = {"json": value}
    elif media == "application/x-www-form-urlencoded" and isinstance(value, Mapping):
        request.body = {"data": {key: _text(item) for key, item in value.items()}}
    elif media.startswith("text/") and isinstance(value, str):
        request.body = {"content": value.encode("utf-8")}
        request.headers["Content-Type"] = f"{media}; charset=utf-8"
    else:
        raise ToolCallError(
            tool.name, f"request bodies of type {media} are not supported; use JSON or a form"
        )


def _path_segment(tool: Tool, prop: str, value: Any) -> str:
    text = _text(value)
    if text in ("", ".", ".."):  # would change which resource the path names
        raise ToolCallError(
            tool.name, f"invalid arguments: $.{prop}: not a usable path segment", kind="invalid_arguments"
        )
    return quote(text, safe="")


def _header_value(tool: Tool, prop: str, value: Any) -> str:
    text = _text(value)
    if any(char in text for char in _UNSAFE_HEADER_CHARS):
        raise ToolCallError(
            tool.name, f"invalid arguments: $.{prop}: line breaks are not allowed", kind="invalid_arguments"
        )
    return text


def _items(value: Any) -> list[Any]:
    # OpenAPI's default for query arrays is form style, exploded: ?tag=a&tag=b.
    return list(value) if isinstance(value, list | tuple) else [value]


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    """The body, but never more than ``limit`` + 1 bytes: a huge response is cut, not buffered."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            break
    return b"".join(chunks)[: limit + 1]


def _decode(tool: Tool, response: httpx.Response, data: bytes) -> JSONValue:
    if not data:
        return None
    media = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        try:
            return json.loads(data)
        except ValueError:
            raise ToolCallError(
                tool.name, "the response says JSON but is not valid JSON", kind="backend"
            ) from None
    try:
        return data.decode(response.charset_encoding or "utf-8")
    except (UnicodeDecodeError, LookupError):
        raise ToolCallError(
            tool.name,
            f"the response is binary ({media or 'no content type'}), which a tool cannot return",
            kind="backend",
        ) from None


def retry_after_seconds(response: httpx.Response) -> float | None:
    """``Retry-After`` as seconds (it may be a number or an HTTP date); None when absent or unreadable."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _scrub(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _path_of(url: str) -> str:
    # Errors name the path, not the query: a query string may carry values the caller passed.
    return httpx.URL(url).path
