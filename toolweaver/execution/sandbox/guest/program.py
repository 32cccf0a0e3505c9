"""Running one program inside a confined child: tool stubs, captured output, the final message.

The program is compiled with top-level ``await`` allowed and run in a fresh namespace; its
result is whatever it assigns to ``result``. Tools are ``async`` functions taking keyword
arguments; each call is a ``call`` frame to the host, answered by a ``ret`` frame.
"""

from __future__ import annotations

import ast
import asyncio
import builtins
import io
import json
import keyword
import os
import sys
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

from . import protocol

PROGRAM_FILE = "<program>"
ERROR_CHARS = 2000  # the longest error text sent to the host
FLUSH_CHARS = 4096  # captured output is sent in chunks of about this size,
FLUSH_S = 0.05  # or at the end of a line this long after the last send, so that output written
# before a timeout or kill reaches the host (a busy loop gives the event loop no chance)
RESERVED = frozenset({"result", "ToolError", "call_tool"})


class ToolError(Exception):
    """A tool call failed (the program may catch it): ``tool``, ``kind`` and ``retryable``."""

    def __init__(self, tool: str, message: str, kind: str = "error", retryable: bool = False) -> None:
        super().__init__(message)
        self.tool = tool
        self.kind = kind
        self.retryable = retryable


class Link:
    """The child's end of the channel: sends frames, matches ``ret`` frames to pending calls."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.send_limit = protocol.HOST_FRAME_LIMIT  # set from the start message
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_id = 0

    def send(self, message: dict[str, Any]) -> None:
        self.writer.write(protocol.encode(message))

    async def receive(self) -> dict[str, Any] | None:
        body = await protocol.read_frame(self.reader, protocol.HOST_FRAME_LIMIT)
        return None if body is None else protocol.decode(body)

    async def pump(self) -> None:
        """Deliver answers until the host closes the channel, then end this process. Cancelled
        when the program is done: the caller still has the result to send."""
        try:
            while (message := await self.receive()) is not None:
                future = self._pending.pop(message.get("id", -1), None)
                if message["t"] == "ret" and future is not None and not future.done():
                    future.set_result(message)
        except asyncio.CancelledError:
            return
        except (protocol.FrameError, OSError):
            pass
        _exit_now(0)  # the host is gone or ended the run: nothing of the program may outlive it

    async def call(self, name: str, arguments: dict[str, Any]) -> Any:
        self._next_id += 1
        call_id = self._next_id
        arguments = _checked(arguments, f"arguments of {name}()")
        frame = protocol.encode({"t": "call", "id": call_id, "name": name, "args": arguments})
        if len(frame) > self.send_limit:
            raise ValueError(f"arguments of {name}() are {len(frame)} bytes, over {self.send_limit}")
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        self.writer.write(frame)
        answer = await future
        if answer.get("ok") is True:
            return answer.get("value")
        raise ToolError(
            name,
            str(answer.get("error", "tool call failed")),
            kind=str(answer.get("kind", "error")),
            retryable=answer.get("retryable") is True,
        )


def _exit_now(code: int) -> None:
    os._exit(code)


class Capture(io.TextIOBase):
    """``sys.stdout``/``sys.stderr`` of the program: sent in chunks, cut at ``limit`` bytes."""

    def __init__(self, link: Link, limit: int) -> None:
        super().__init__()
        self._link = link
        self._limit = limit
        self._used = 0
        self._buffer: list[str] = []
        self._buffered = 0
        self._cut = False
        self._flushed = 0.0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if self._cut:
            return len(text)
        size = len(text.encode("utf-8", "replace"))
        if self._used + size > self._limit:
            keep = text.encode("utf-8", "replace")[: self._limit - self._used].decode("utf-8", "ignore")
            self._buffer.append(keep + f"\n[output cut at {self._limit} bytes]\n")
            self._cut = True
            self.flush()
            return len(text)
        self._used += size
        self._buffer.append(text)
        self._buffered += len(text)
        due = "\n" in text and time.monotonic() - self._flushed >= FLUSH_S
        if due or self._buffered >= FLUSH_CHARS:
            self.flush()
        return len(text)

    def flush(self) -> None:
        if self._buffer:
            text, self._buffer, self._buffered = "".join(self._buffer), [], 0
            text = text.encode("utf-8", "replace").decode("utf-8")
            self._link.send({"t": "out", "text": text})
            self._flushed = time.monotonic()


def _program_line(tb: TracebackType | None) -> int | None:
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == PROGRAM_FILE:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def describe(exc: BaseException, memory_mb: int) -> str:
    """``Type: message (line N)``, from the child only; never a host traceback."""
    try:
        message = str(exc)
    except BaseException:  # a hostile __str__: its own failure is not worth reporting
        message = "<unprintable>"
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    if isinstance(exc, MemoryError):
        text += f" (address-space limit {memory_mb} MB)"
    if isinstance(exc, SyntaxError) and exc.lineno:
        text += f" (line {exc.lineno})"
    elif (line := _program_line(exc.__traceback__)) is not None:
        text += f" (line {line})"
    text = text if len(text) <= ERROR_CHARS else text[:ERROR_CHARS] + "… [cut]"
    return text.encode("utf-8", "replace").decode("utf-8")  # lone surrogates cannot travel


def _stub(link: Link, name: str) -> Callable[..., Awaitable[Any]]:
    async def tool(*args: Any, **kwargs: Any) -> Any:
        if args:
            raise TypeError(f"{name}() takes keyword arguments only")
        return await link.call(name, kwargs)

    tool.__name__ = tool.__qualname__ = name
    return tool


def namespace(link: Link, tools: list[str]) -> dict[str, Any]:
    """The program's globals: one stub per tool whose name is an identifier, ``call_tool`` for
    any tool by name, ``ToolError``, and the usual builtins."""
    known = set(tools)

    async def call_tool(name: str, /, **kwargs: Any) -> Any:
        if name not in known:
            raise ToolError(str(name), f"no tool named {name!r}", kind="not_found")
        return await link.call(name, kwargs)

    names: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins}
    for name in tools:
        usable = name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("__")
        if usable and name not in RESERVED:
            names[name] = _stub(link, name)
    names.update(ToolError=ToolError, call_tool=call_tool)
    return names


def _checked(value: Any, what: str) -> Any:
    try:
        protocol.check_value(value)
    except protocol.FrameError as exc:
        raise ValueError(f"{what}: {exc}") from None
    return value


def _result_frame(value: Any, limit: int) -> bytes:
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    size = len(text.encode())
    if size > limit:
        raise ValueError(f"result is {size} bytes, over the limit of {limit}")
    return protocol.frame('{"t":"done","ok":true,"result":' + text + "}")


async def execute(link: Link, start: dict[str, Any]) -> bytes:
    """Run the program of a ``start`` message; the ``done`` frame to send."""
    code, tools = str(start["code"]), [str(name) for name in start["tools"]]
    limit, memory_mb = int(start["max_output"]), int(start["memory_mb"])
    link.send_limit = int(start["frame_limit"])
    capture = Capture(link, limit)
    sys.stdout = sys.stderr = capture
    names = namespace(link, tools)
    try:
        compiled = compile(
            code, PROGRAM_FILE, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT, dont_inherit=True
        )
        # Running the untrusted program is this process's whole purpose; it is confined by
        # rlimits and seccomp (see guest/child.py), not by what this call can see.
        pending = eval(compiled, names)  # noqa: S307  # nosec B307 - see the comment above
        if asyncio.iscoroutine(pending):
            await pending
        frame = _result_frame(_checked(names.get("result"), "result"), limit)
    except BaseException as exc:  # the program's failure, whatever it is, is the outcome
        frame = protocol.encode({"t": "done", "ok": False, "error": describe(exc, memory_mb)})
    capture.flush()
    return frame
