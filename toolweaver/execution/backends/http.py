"""HTTP tools: operations imported from OpenAPI documents, called with one pooled httpx client.

``backend_config`` (written by ``catalog.openapi.import_openapi``) gives ``method``, ``path``,
``server_url``, ``parameters`` (property -> path | query | header | cookie | body), ``body`` (the
property holding the whole request body), ``content_type``, ``aliases`` (property -> wire name)
and optionally ``auth``:

    none (or absent)                                                   no credentials
    {"type": "managed_identity", "scope": "api://<app>/.default"}      Entra ID bearer token
    {"type": "app_setting_key", "header": "X-Api-Key", "setting": "NAME"}  a key from an app setting

Secrets (tokens, keys) never reach logs or error messages: errors quote at most a short excerpt
of the response body, with any secret of the request blanked out.
"""

from __future__ import annotations

import asyncio
import email.utils
import inspect
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
from toolweaver.execution.idempotency import current_idempotency_key
from toolweaver.execution.ports import JSONValue, ToolCallError

log = logging.getLogger(__name__)

RETRYABLE_STATUSES = frozenset({408, 425, 429})  # and every 5xx
TOKEN_REFRESH_MARGIN_S = 300  # refresh a bearer token this long before it expires
AUTH_TYPES = ("none", "managed_identity", "app_setting_key")
_UNSAFE_HEADER_CHARS = ("\r", "\n", "\0")
_CLIENTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, httpx.AsyncClient] = (
    weakref.WeakKeyDictionary()
)


def shared_client() -> httpx.AsyncClient:
    """The process's pooled client for the running event loop, created on first use.

    Connections belong to the loop that opened them, so a process that runs loops one after
    another (CLI, tests) gets one client per loop; the Functions worker has just one.
    """
    loop = asyncio.get_running_loop()
    client = _CLIENTS.get(loop)
    if client is None or client.is_closed:
        client = httpx.AsyncClient(
            follow_redirects=False,  # a redirect to another host must not carry our credentials
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            headers={"User-Agent": "toolweaver"},
        )
        _CLIENTS[loop] = client
    return client


async def aclose_shared_client() -> None:
    """Close the running loop's shared client (at shutdown, or at the end of a test's loop)."""
    client = _CLIENTS.pop(asyncio.get_running_loop(), None)
    if client is not None:
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

    ``environ`` holds the app settings that ``app_setting_key`` auth reads; ``credential`` (or
    ``credential_factory``, called once when first needed) is an object with ``get_token(scope)``,
    sync or async, such as azure-identity's DefaultAzureCredential: the execution core imports no
    Azure SDK, so the composition root passes it in.
    """

    def __init__(
        self,
        *,
        environ: Mapping[str, str] | None = None,
        credential: Any = None,
        credential_factory: Callable[[], Any] | None = None,
        timeout_s: float = 30.0,
        max_response_bytes: int = 1024 * 1024,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._environ = environ if environ is not None else {}
        self._credential = credential
        self._credential_factory = credential_factory
        self._timeout = httpx.Timeout(timeout_s, connect=min(10.0, timeout_s))
        self.max_response_bytes = max_response_bytes
        self._client = client
        self._tokens: dict[str, tuple[str, float]] = {}  # scope -> (token, expires_on)

    async def call(self, tool: Tool, arguments: dict[str, Any]) -> JSONValue:
        request = build_request(tool, arguments)
        await self._authorize(tool, request)
        key = current_idempotency_key()
        if key is not None:
            request.headers["Idempotency-Key"] = key
        client = self._client or shared_client()
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

    async def _authorize(self, tool: Tool, request: _Request) -> None:
        auth = tool.backend_config.get("auth")
        kind = auth.get("type") if isinstance(auth, Mapping) else auth
        if kind in (None, "none"):
            return
        if not isinstance(auth, Mapping) or kind not in AUTH_TYPES:
            raise ToolCallError(
                tool.name, f"backend_config.auth type {kind!r} is unknown; use one of {', '.join(AUTH_TYPES)}"
            )
        if kind == "app_setting_key":
            header, setting = auth.get("header"), auth.get("setting")
            if not isinstance(header, str) or not isinstance(setting, str):
                raise ToolCallError(tool.name, "app_setting_key auth needs 'header' and 'setting' names")
            value = self._environ.get(setting, "")
            if not value:
                raise ToolCallError(tool.name, f"the app setting {setting} that holds its key is not set")
            request.headers[header] = value
            request.secrets.append(value)
            return
        scope = auth.get("scope")
        if not isinstance(scope, str) or not scope:
            raise ToolCallError(
                tool.name, "managed_identity auth needs a 'scope', e.g. api://<app-id>/.default"
            )
        token = await self._token(tool, scope)
        request.headers["Authorization"] = f"Bearer {token}"
        request.secrets.append(token)

    async def _token(self, tool: Tool, scope: str) -> str:
        cached = self._tokens.get(scope)
        if cached is not None and cached[1] - TOKEN_REFRESH_MARGIN_S > time.time():
            return cached[0]
        if self._credential is None and self._credential_factory is not None:
            self._credential = self._credential_factory()
        if self._credential is None:
            raise ToolCallError(
                tool.name, "managed_identity auth needs a credential, and this app was started without one"
            )
        try:
            result = self._credential.get_token(scope)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            # The SDK's message can be long and name internal endpoints: report the type only.
            log.warning("getting a token for %s failed: %s", scope, type(exc).__name__)
            raise RetryLaterError(
                tool.name, f"could not get a token for {scope} ({type(exc).__name__})"
            ) from None
        self._tokens[scope] = (str(result.token), float(result.expires_on))
        return str(result.token)

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
