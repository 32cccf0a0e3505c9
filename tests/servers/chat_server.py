"""A Chat Completions server on loopback that replays scripted answers, for the planner's tests.

It answers ``POST /chat/completions`` (what an OpenAI-compatible client calls under its base URL)
and Azure OpenAI's ``POST /openai/deployments/{deployment}/chat/completions?api-version=...``.
Answers are queued with ``enqueue``: a 200 carries the content (a dict is JSON-encoded) and a
``usage`` block with ``prompt_tokens_details.cached_tokens``; any other status sends an OpenAI-style
error body, e.g. a 429 with Retry-After. Every request is kept in ``history`` with its arrival
time. An empty queue answers 400 (the SDK does not retry it), so a test that scripted too few
answers fails at once. The server runs in a thread with its own event loop.

``Behaviour`` gives it the habits of real servers, checked before a scripted answer is used (a
refusal consumes none):

- ``refuse_formats``: refuse these ``response_format`` types, as llama-cpp-python does (500 with a
  pydantic error naming ``response_format.type``) or FastAPI servers (422 with ``detail``);
- ``prose``: ignore ``response_format`` and wrap each answer in chatty prose and a code fence;
- ``context_tokens`` with ``context_style``: a context window (tokens counted as characters / 4);
  ``"reject"`` refuses prompt + max_tokens beyond it as vLLM and OpenAI do (400, both numbers in
  the message), ``"truncate"`` lowers max_tokens to what fits and cuts the answer there with
  finish_reason "length", as llama-cpp-python does, refusing only a prompt that alone overflows;
- ``no_system_role``: a chat template without a system role (500 "System role not supported");
- ``reasoning``: an Azure OpenAI reasoning deployment (400 for ``max_tokens`` and for a
  temperature other than 1).
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
LLAMA_CPP_PYTHON_FORMAT_ERROR = (
    "1 validation error:\n  {'type': 'literal_error', 'loc': ('body', 'response_format', 'type'), "
    "'msg': \"Input should be 'text' or 'json_object'\", 'input': 'json_schema'}"
)


@dataclass(frozen=True)
class Behaviour:
    """Habits of a real model server (see the module docstring); the default has none."""

    refuse_formats: tuple[str, ...] = ()
    refuse_status: int = 500
    prose: bool = False
    context_tokens: int | None = None
    context_style: str = "reject"  # or "truncate"
    no_system_role: bool = False
    reasoning: bool = False


def count_tokens(text: str) -> int:
    """The server's token count: about four characters a token, like English text in BPE."""
    return max(1, len(text) // 4)


def prompt_tokens(messages: list[dict[str, Any]]) -> int:
    return sum(count_tokens(str(message.get("content", ""))) + 4 for message in messages)


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
    behaviour: Behaviour = field(default_factory=Behaviour)
    in_flight: int = 0
    most_in_flight: int = 0  # requests the server worked on at once (a retry behind a slow one)

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
        body = body if isinstance(body, dict) else {"_body": body}
        state.record(
            Recorded(
                method=request.method,
                path=request.path,
                query=dict(request.query),
                headers={name.lower(): value for name, value in request.headers.items()},
                body=body,
                at=time.monotonic(),
            )
        )
        refusal = _refusal(state.behaviour, body)
        if refusal is not None:
            return refusal
        scripted = state.next()
        if scripted is None:
            error = {"error": {"message": "no scripted answer left", "type": "test", "code": "empty"}}
            return web.json_response(error, status=400)
        with state.lock:
            state.in_flight += 1
            state.most_in_flight = max(state.most_in_flight, state.in_flight)
        try:
            if scripted.delay:
                await asyncio.sleep(scripted.delay)
        finally:
            with state.lock:
                state.in_flight -= 1
        answer = _shaped(state.behaviour, body, scripted.body) if scripted.status == 200 else scripted.body
        return web.json_response(answer, status=scripted.status, headers=scripted.headers)

    app = web.Application()
    app.router.add_post("/chat/completions", chat)
    app.router.add_post("/openai/deployments/{deployment}/chat/completions", chat)
    return app


def _error(status: int, message: str, **extra: Any) -> web.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", **extra}}
    return web.json_response(body, status=status)


def _refusal(behaviour: Behaviour, body: dict[str, Any]) -> web.Response | None:  # noqa: PLR0911
    """What a real server refuses before generating anything, or None."""
    kind = (body.get("response_format") or {}).get("type")
    if kind in behaviour.refuse_formats and not behaviour.prose:
        if behaviour.refuse_status == 422:
            detail = [{"loc": ["body", "response_format", "type"], "msg": f"{kind} is not supported"}]
            return web.json_response({"detail": detail}, status=422)
        return _error(behaviour.refuse_status, LLAMA_CPP_PYTHON_FORMAT_ERROR.replace("json_schema", kind))
    messages = body.get("messages", [])
    if behaviour.no_system_role and any(m.get("role") == "system" for m in messages):
        return _error(500, "System role not supported", type="internal_server_error")
    if behaviour.reasoning:
        if "max_tokens" in body:
            return _error(
                400,
                "Unsupported parameter: 'max_tokens' is not supported with this model. "
                "Use 'max_completion_tokens' instead.",
                param="max_tokens",
            )
        if body.get("temperature", 1) != 1:
            return _error(
                400,
                f"Unsupported value: 'temperature' does not support {body['temperature']} with this "
                "model. Only the default (1) value is supported.",
                param="temperature",
            )
    limit = behaviour.context_tokens
    if limit is None:
        return None
    prompt = prompt_tokens(messages)
    wanted = body.get("max_tokens") or body.get("max_completion_tokens") or 0
    if prompt >= limit or (behaviour.context_style == "reject" and prompt + wanted > limit):
        return _error(
            400,
            f"This model's maximum context length is {limit} tokens. However, you requested "
            f"{prompt + wanted} tokens ({prompt} in the messages, {wanted} in the completion). "
            "Please reduce the length of the messages or completion.",
            code="context_length_exceeded",
        )
    return None


def _shaped(behaviour: Behaviour, request: dict[str, Any], answer: dict[str, Any]) -> dict[str, Any]:
    """A scripted 200 as this server would send it: wrapped in prose, cut at its context window."""
    answer = json.loads(json.dumps(answer))
    choice = answer["choices"][0]
    content = choice["message"]["content"]
    if behaviour.prose and isinstance(content, str):
        content = f"Sure! Here is the plan you asked for:\n```json\n{content}\n```\nLet me know if it helps."
    if behaviour.context_tokens is not None and isinstance(content, str):
        prompt = prompt_tokens(request.get("messages", []))
        wanted = request.get("max_tokens") or request.get("max_completion_tokens") or 10**9
        room = min(wanted, behaviour.context_tokens - prompt)
        if count_tokens(content) > room:
            content, choice["finish_reason"] = content[: room * 4], "length"
        answer["usage"].update(prompt_tokens=prompt, completion_tokens=min(room, count_tokens(content)))
    choice["message"]["content"] = content
    return answer


@dataclass
class ChatServer(Running[ChatState]):
    """The running server: ``url`` is both the OpenAI base URL and the Azure endpoint."""

    def enqueue(self, content: str | Mapping[str, Any] | None = None, **options: Any) -> None:
        self.state.enqueue(content, **options)

    @property
    def history(self) -> list[Recorded]:
        with self.state.lock:
            return list(self.state.history)

    def behave(self, behaviour: Behaviour) -> None:
        """Change the server's habits (a module-scoped server shared by several tests)."""
        self.state.behaviour = behaviour


@contextmanager
def running_chat_server(behaviour: Behaviour | None = None) -> Iterator[ChatServer]:
    """The server on a free loopback port until the block ends, with ``behaviour``'s habits."""
    state = ChatState(behaviour=behaviour or Behaviour())
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
