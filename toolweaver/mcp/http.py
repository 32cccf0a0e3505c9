"""POST /api/mcp: one HTTP request of MCP's streamable HTTP transport, answered by the SDK.

The route table's handlers are synchronous ``(ApiRequest, Services) -> ApiResponse``, called on
a worker thread by the Functions host (or the dev host). Each request is handed to the SDK's
``StreamableHTTPSessionManager`` as an ASGI request on an event loop of its own, stateless and
with JSON responses: nothing outlives the request, so any instance can answer any request, and
no stream stays open that a Functions invocation could not hold.

Before the SDK sees it, a request with an ``Origin`` that MCP_ALLOWED_ORIGINS does not list is
refused (MCP's defence against DNS rebinding); the SDK checks ``MCP-Protocol-Version``, the
media types and the JSON-RPC itself. Failures of the transport that the SDK answers in plain
text become problem+json, like every other route's; JSON-RPC errors stay JSON-RPC.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from toolweaver.api.http import JSON, ApiRequest, ApiResponse, json_response, problem
from toolweaver.services import Services

if TYPE_CHECKING:
    from starlette.types import Message  # the SDK's ASGI types (starlette comes with mcp)

_DROPPED = frozenset({"content-length", "content-type", "transfer-encoding", "connection", "date", "server"})


def handle_get(request: ApiRequest, services: Services) -> ApiResponse:
    """No server-initiated stream is offered (stateless): MCP says GET then answers 405."""
    return problem(
        405,
        "this MCP endpoint is stateless and offers no event stream: send JSON-RPC requests by POST",
        headers={"Allow": "POST"},
    )


def handle_post(request: ApiRequest, services: Services) -> ApiResponse:
    origin = request.header("origin")
    if origin is not None and origin.rstrip("/") not in allowed_origins(services):
        return problem(
            403,
            f"Origin {origin[:200]!r} may not call this MCP endpoint; an operator can allow it "
            "in MCP_ALLOWED_ORIGINS",
        )
    status, headers, body = _runner().run(_serve(request, services))
    content_type = headers.pop("content-type", "")
    if status >= 400 and not content_type.startswith(JSON):
        text = body.decode("utf-8", "replace").strip() or "the MCP request was refused"
        return problem(status, text, headers=headers)
    return ApiResponse(status, body, content_type.split(";", 1)[0] or JSON, headers)


_threads = threading.local()


def _runner() -> asyncio.Runner:
    """This worker thread's own event loop, kept between requests: a fresh loop per request
    (asyncio.run) costs about a third of a millisecond to make and close."""
    runner: asyncio.Runner | None = getattr(_threads, "runner", None)
    if runner is None:
        runner = _threads.runner = asyncio.Runner()
    return runner


def allowed_origins(services: Services) -> frozenset[str]:
    raw = services.settings.mcp_allowed_origins
    return frozenset(origin.strip().rstrip("/") for origin in raw.split(",") if origin.strip())


async def _serve(request: ApiRequest, services: Services) -> tuple[int, dict[str, str], bytes]:
    """One ASGI exchange with a fresh stateless manager; the status, headers and whole body."""
    # Imported here: the SDK takes about 0.7 s to import, which no other route should pay.
    from mcp.server.streamable_http_manager import StreamableHTTPSessionManager

    from toolweaver.mcp.server import mcp_server_of

    manager = StreamableHTTPSessionManager(mcp_server_of(services).server, json_response=True, stateless=True)
    answer: dict[str, Any] = {"status": 500, "headers": {}, "body": bytearray()}
    delivered = False

    async def receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return {"type": "http.request", "body": request.body, "more_body": False}
        await asyncio.Event().wait()  # the client never disconnects from a buffered request
        raise AssertionError("unreachable")

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = {
                name.decode("latin-1").lower(): value.decode("latin-1")
                for name, value in message.get("headers", [])
            }
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    async with manager.run():
        await manager.handle_request(_scope(request), receive, send)
    headers = {name: value for name, value in answer["headers"].items() if name not in _DROPPED}
    headers["content-type"] = answer["headers"].get("content-type", "")
    return answer["status"], headers, bytes(answer["body"])


def _scope(request: ApiRequest) -> dict[str, Any]:
    path = "/api/mcp"
    host = request.header("host") or "localhost"
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": request.method.upper(),
        "scheme": "https",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [
            (name.lower().encode("latin-1"), value.encode("latin-1", "replace"))
            for name, value in request.headers.items()
        ],
        "client": ("127.0.0.1", 0),
        "server": (host, 443),
    }


def protected_resource(request: ApiRequest, services: Services) -> ApiResponse:
    """OAuth 2.0 protected-resource metadata (RFC 9728) for ``/api/mcp``, when Entra ID is set up.

    MCP clients that speak MCP authorization read it to find the authorization server and the
    scope to ask for; with function keys alone there is nothing to discover (404 says so).
    """
    s = services.settings
    if not (s.entra_tenant_id and s.entra_client_id):
        return problem(
            404,
            "no Entra ID sign-in is configured (ENTRA_TENANT_ID and ENTRA_CLIENT_ID): "
            "send a function key as x-functions-key instead",
        )
    parts = urlsplit(request.path)
    origin = f"{parts.scheme or 'https'}://{parts.netloc}" if parts.netloc else ""
    metadata = {
        "resource": f"{origin}/api/mcp",
        "authorization_servers": [f"https://login.microsoftonline.com/{s.entra_tenant_id}/v2.0"],
        "scopes_supported": [f"api://{s.entra_client_id}/.default"],
        "bearer_methods_supported": ["header"],
        "resource_name": "ToolWeaver MCP",
    }
    return json_response(200, metadata, {"Cache-Control": "max-age=3600"})
