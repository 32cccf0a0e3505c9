"""Frames between the host and a sandboxed child: a 4-byte big-endian length, then UTF-8 JSON.

Both sides read a header first and refuse a frame over their limit before reading its body, and
the host decodes a body only with ``json.loads`` (no NaN/Infinity, bounded nesting) and checks
its shape. Nothing is pickled, ``eval``-ed or ``repr``-ed across the channel.

Messages (``t`` is the kind):

    child -> host   ready {seccomp: bool, why: str, uid: int}
                    out   {text: str}                           captured stdout, in chunks
                    call  {id: int, name: str, args: {..}}      a tool call
                    done  {ok: true, result: JSON} | {ok: false, error: str}
    host -> child   start {code: str, tools: [str], max_output: int, memory_mb: int, frame_limit: int}
                    ret   {id: int, ok: true, value: JSON}
                        | {id: int, ok: false, error: str, kind: str, retryable: bool}
"""

from __future__ import annotations

import asyncio
import json
import math
import struct
from typing import Any

HEADER = struct.Struct(">I")
MAX_DEPTH = 64  # nesting of any JSON value the host accepts from a child
HOST_FRAME_LIMIT = 8 * 1024 * 1024  # the largest frame a child accepts from the host


class FrameError(Exception):
    """A frame is too large, truncated, not JSON, too deep or of the wrong shape."""


def encode(message: dict[str, Any]) -> bytes:
    """One frame: header and compact JSON. Raises ValueError/TypeError for non-JSON values."""
    body = json.dumps(message, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()
    return HEADER.pack(len(body)) + body


def frame(body: str) -> bytes:
    """A frame around JSON text the caller has already encoded."""
    data = body.encode()
    return HEADER.pack(len(data)) + data


async def read_frame(reader: asyncio.StreamReader, limit: int) -> bytes | None:
    """The next frame's body; None at a clean end of stream (between frames)."""
    try:
        header = await reader.readexactly(HEADER.size)
    except asyncio.IncompleteReadError as exc:
        if not exc.partial:
            return None
        raise FrameError("truncated frame header") from None
    (size,) = HEADER.unpack(header)
    if size > limit:
        raise FrameError(f"frame of {size} bytes is over the limit of {limit}")
    try:
        return await reader.readexactly(size)
    except asyncio.IncompleteReadError:
        raise FrameError("truncated frame body") from None


def _reject_constant(name: str) -> Any:
    raise FrameError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise FrameError(f"number {text[:20]!r} is out of range")
    return value


def check_value(value: Any, max_depth: int = MAX_DEPTH) -> None:
    """Nesting at most ``max_depth``, and text that is valid Unicode (no lone surrogates), so
    that whoever serializes the value later cannot fail on it. Raises FrameError."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise FrameError(f"value nested deeper than {max_depth} levels")
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, dict):
            for key, child in item.items():
                if isinstance(key, str):
                    _check_text(key)
                stack.append((child, depth + 1))
        elif isinstance(item, list | tuple):
            stack.extend((child, depth + 1) for child in item)


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise FrameError("text with a lone surrogate") from None


def decode(body: bytes, *, max_depth: int = MAX_DEPTH) -> dict[str, Any]:
    """A message: a JSON object with a string ``t``. Raises FrameError for anything else."""
    try:
        message = json.loads(body, parse_constant=_reject_constant, parse_float=_finite_float)
    except FrameError:
        raise
    except (ValueError, RecursionError, MemoryError) as exc:  # UnicodeDecodeError is a ValueError
        raise FrameError(f"frame is not valid JSON ({type(exc).__name__})") from None
    if not isinstance(message, dict) or not isinstance(message.get("t"), str):
        raise FrameError("frame is not a message object")
    check_value(message, max_depth + 1)
    return message
