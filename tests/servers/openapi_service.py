"""A small OpenAPI-described HTTP service on loopback, for the http backend's tests.

Its operations cover what the backend must handle: a path parameter, query parameters (one a
list), a JSON body, a route protected by an API key header, a bearer-token route, a flaky route
(503 with Retry-After twice, then 200), a slow one, a huge streamed one, plain text, a redirect
and a 404. ``DOCUMENT`` describes them; ``import_openapi(DOCUMENT, server_url=service.url)``
turns them into tools. The server runs in a thread with its own event loop.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.servers.loopback import Running, serving

API_KEY = "k3y-for-tests-0123456789"
KEY_HEADER = "X-Api-Key"
HUGE_CHUNK = b"x" * 65536


@dataclass
class ServiceState:
    flaky_calls: Counter[str] = field(default_factory=Counter)
    huge_bytes_sent: int = 0
    huge_finished: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)
    seen: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # (path, headers) of every request


def _json_response(schema: dict[str, Any]) -> dict[str, Any]:
    return {"200": {"description": "OK", "content": {"application/json": {"schema": schema}}}}


DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "Test service", "version": "1.0"},
    "servers": [{"url": "http://127.0.0.1:1"}],  # replaced with the real port on import
    "components": {
        "securitySchemes": {
            "ApiKeyAuth": {"type": "apiKey", "in": "header", "name": KEY_HEADER},
            "Entra": {"type": "oauth2", "flows": {}},
        }
    },
    "paths": {
        "/items/{item_id}": {
            "get": {
                "operationId": "get_item",
                "summary": "Get one item by id.",
                "parameters": [
                    {"name": "item_id", "in": "path", "required": True, "schema": {"type": "string"}},
                    {"name": "X-Trace", "in": "header", "schema": {"type": "string"}},
                ],
                "responses": _json_response({"type": "object"}),
            }
        },
        "/search": {
            "get": {
                "operationId": "search_items",
                "summary": "Search items by text and tags.",
                "parameters": [
                    {"name": "q", "in": "query", "required": True, "schema": {"type": "string"}},
                    {"name": "tag", "in": "query", "schema": {"type": "array", "items": {"type": "string"}}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                    {"name": "exact", "in": "query", "schema": {"type": "boolean"}},
                ],
                "responses": _json_response({"type": "object"}),
            }
        },
        "/orders": {
            "post": {
                "operationId": "create_order",
                "summary": "Create an order.",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {"sku": {"type": "string"}, "qty": {"type": "integer"}},
                                "required": ["sku", "qty"],
                            }
                        }
                    },
                },
                "responses": {"201": {"description": "Created"}},
            }
        },
        "/secret": {
            "get": {
                "operationId": "read_secret",
                "summary": "A route that needs the API key.",
                "security": [{"ApiKeyAuth": []}],
                "responses": _json_response({"type": "object"}),
            }
        },
        "/me": {
            "get": {
                "operationId": "who_am_i",
                "summary": "A route that needs an Entra ID bearer token.",
                "security": [{"Entra": []}],
                "responses": _json_response({"type": "object"}),
            }
        },
        "/flaky": {
            "get": {
                "operationId": "flaky",
                "summary": "Answers 503 with Retry-After twice per Idempotency-Key, then 200.",
                "responses": _json_response({"type": "object"}),
            }
        },
        "/slow": {
            "get": {
                "operationId": "slow",
                "summary": "Answers after the given number of seconds.",
                "parameters": [{"name": "seconds", "in": "query", "schema": {"type": "number"}}],
                "responses": _json_response({"type": "object"}),
            }
        },
        "/huge": {
            "get": {
                "operationId": "huge",
                "summary": "Streams this many megabytes of text.",
                "parameters": [{"name": "megabytes", "in": "query", "schema": {"type": "integer"}}],
                "responses": {"200": {"description": "OK", "content": {"text/plain": {}}}},
            }
        },
        "/text": {
            "get": {
                "operationId": "plain_text",
                "summary": "Answers with plain text.",
                "responses": {"200": {"description": "OK", "content": {"text/plain": {}}}},
            }
        },
        "/moved": {
            "get": {
                "operationId": "moved",
                "summary": "Redirects elsewhere.",
                "responses": {"302": {"description": "Found"}},
            }
        },
    },
}


def _app(state: ServiceState) -> web.Application:
    routes = web.RouteTableDef()

    @routes.get("/items/{item_id}")
    async def get_item(request: web.Request) -> web.Response:
        item_id = request.match_info["item_id"]
        state.requests.append({"path": request.raw_path, "trace": request.headers.get("X-Trace")})
        if item_id == "missing":
            return web.json_response({"error": f"no item {item_id}"}, status=404)
        return web.json_response({"id": item_id, "trace": request.headers.get("X-Trace")})

    @routes.get("/search")
    async def search(request: web.Request) -> web.Response:
        query = request.query
        return web.json_response(
            {
                "q": query.get("q"),
                "tags": query.getall("tag", []),
                "limit": query.get("limit"),
                "exact": query.get("exact"),
            }
        )

    @routes.post("/orders")
    async def create_order(request: web.Request) -> web.Response:
        body = await request.json()
        key = request.headers.get("Idempotency-Key")
        return web.json_response({"order": body, "idempotency_key": key}, status=201)

    @routes.get("/secret")
    async def read_secret(request: web.Request) -> web.Response:
        given = request.headers.get(KEY_HEADER, "")
        if given != API_KEY:
            # Echoes the key it got, as careless services do: the backend must not repeat it.
            return web.json_response({"error": f"bad key {given!r}"}, status=401)
        return web.json_response({"secret": 42})

    @routes.get("/me")
    async def who_am_i(request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        if not auth.startswith("Bearer "):
            return web.json_response({"error": "no token"}, status=401)
        return web.json_response({"token": auth.removeprefix("Bearer ")})

    @routes.get("/flaky")
    async def flaky(request: web.Request) -> web.Response:
        key = request.headers.get("Idempotency-Key", "")
        state.flaky_calls[key] += 1
        if state.flaky_calls[key] <= 2:
            return web.json_response({"error": "busy"}, status=503, headers={"Retry-After": "1"})
        return web.json_response({"attempts": state.flaky_calls[key], "key": key})

    @routes.get("/slow")
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("seconds", "1")))
        return web.json_response({"slept": True})

    @routes.get("/huge")
    async def huge(request: web.Request) -> web.StreamResponse:
        total = int(request.query.get("megabytes", "1")) * 1024 * 1024
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        try:
            while state.huge_bytes_sent < total:
                await response.write(HUGE_CHUNK)
                state.huge_bytes_sent += len(HUGE_CHUNK)
            await response.write_eof()
            state.huge_finished = True
        except (ConnectionResetError, ConnectionError):
            pass  # the client stopped reading: what the size cap should do
        return response

    @routes.get("/text")
    async def plain_text(request: web.Request) -> web.Response:
        return web.Response(text="hello, plain world")

    @routes.get("/moved")
    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("/text")

    @routes.get("/openapi.json")
    async def openapi(request: web.Request) -> web.Response:
        return web.json_response(DOCUMENT)

    app = web.Application()

    @web.middleware
    async def record(request: web.Request, handler: Any) -> web.StreamResponse:
        state.seen.append((request.path, dict(request.headers)))
        return await handler(request)  # type: ignore[no-any-return]

    app.middlewares.append(record)
    app.add_routes(routes)
    return app


Service = Running[ServiceState]


@contextmanager
def running_service() -> Iterator[Service]:
    """The service on a free loopback port until the block ends."""
    state = ServiceState()
    with serving(_app(state), "openapi-service") as url:
        yield Service(url, state)
