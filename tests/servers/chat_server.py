"""A Chat Completions server on loopback that replays scripted answers, for the planner's tests.

It answers ``POST /chat/completions`` (what an OpenAI-compatible client calls under its base URL)
and Azure OpenAI's ``POST /openai/deployments/{deployment}/chat/completions?api-version=...``.
Answers are queued with ``enqueue``: a 200 carries the content (a dict is JSON-encoded) and a
``usage`` block with ``prompt_tokens_details.cached_tokens``; any other status sends an OpenAI-style
error body, e.g. a 429 with Retry-After. Every request is kept in ``history`` with its arrival
time. An empty queue answers 400 (the SDK does not retry it), so a test that scripted too few
answers fails at once. The server runs in a thread with its own event loop.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Awaitable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from aiohttp import web

from tests.servers.loopback import Running, serving

T = TypeVar("T")
DEFAULT_USAGE = {"prompt_tokens": 120, "completion_tokens": 30, "cached_tokens": 0}


@dataclass(frozen=True)
class Scripted:
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    delay: float = 0.0


@dataclass(frozen=True)
class Recorded:
    """One request as the server saw it; ``headers`` with lower-case names."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: dict[str, Any]
    at: float  # time.monotonic() when it arrived

    @property
    def messages(self) -> list[dict[str, Any]]:
        return list(self.body.get("messages", []))


@dataclass
class ChatState:
    queue: deque[Scripted] = field(default_factory=deque)
    history: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def enqueue(
        self,
        content: str | Mapping[str, Any] | None = None,
        *,
        status: int = 200,
        headers: Mapping[str, str] | None = None,
        usage: Mapping[str, int] | None = None,
        finish_reason: str = "stop",
        delay: float = 0.0,
    ) -> None:
        """Queue one answer: ``content`` for a 200, an error body for any other ``status``.

        ``delay`` seconds pass before it is sent (for timeouts).
        """
        if status == 200:
            text = json.dumps(content) if isinstance(content, Mapping) else content
            body = _completion(text, {**DEFAULT_USAGE, **(usage or {})}, finish_reason)
        else:
            message = content if isinstance(content, str) else f"scripted error {status}"
            body = {"error": {"message": message, "type": "scripted", "code": str(status)}}
        with self.lock:
            self.queue.append(Scripted(status, body, dict(headers or {}), delay))

    def next(self) -> Scripted | None:
        with self.lock:
            return self.queue.popleft() if self.queue else None

    def record(self, request: Recorded) -> None:
        with self.lock:
            self.history.append(request)


def _completion(content: str | None, usage: Mapping[str, int], finish_reason: str) -> dict[str, Any]:
    prompt, completion = usage["prompt_tokens"], usage["completion_tokens"]
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "scripted",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None},
                "finish_reason": finish_reason,
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": usage["cached_tokens"]},
        },
    }


def _app(state: ChatState) -> web.Application:
    async def chat(request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = {"_unparsed": await request.text()}
        state.record(
            Recorded(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers={name.lower(): value for name, value in request.headers.items()},
                body=body if isinstance(body, dict) else {"_body": body},
                at=time.monotonic(),
            )
        )
        scripted = state.next()
        if scripted is None:
            error = {"error": {"message": "no scripted answer left", "type": "test", "code": "empty"}}
            return web.json_response(error, status=400)
        if scripted.delay:
            await asyncio.sleep(scripted.delay)
        return web.json_response(scripted.body, status=scripted.status, headers=scripted.headers)

    app = web.Application()
    app.router.add_post("/chat/completions", chat)
    app.router.add_post("/openai/deployments/{deployment}/chat/completions", chat)
    return app


@dataclass
class ChatServer(Running[ChatState]):
    """The running server: ``url`` is both the OpenAI base URL and the Azure endpoint."""

    def enqueue(self, content: str | Mapping[str, Any] | None = None, **options: Any) -> None:
        self.state.enqueue(content, **options)

    @property
    def history(self) -> list[Recorded]:
        with self.state.lock:
            return list(self.state.history)


@contextmanager
def running_chat_server() -> Iterator[ChatServer]:
    """The server on a free loopback port until the block ends."""
    state = ChatState()
    with serving(_app(state), "chat-server") as url:
        yield ChatServer(url, state)


class Closable(Protocol):
    def aclose(self) -> Awaitable[None]: ...


def run_closing(client: Closable, coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on a fresh loop, then close the client's connections of that loop."""

    async def main() -> T:
        try:
            return await coroutine
        finally:
            await client.aclose()

    return asyncio.run(main())
