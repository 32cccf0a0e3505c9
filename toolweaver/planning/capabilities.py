"""What a model server accepts, learned from its refusals and remembered per (endpoint, model).

OpenAI-compatible servers differ in what they take, and say so only by refusing a request:

- ``response_format``: structured output (``json_schema``) is the best, JSON mode (``json_object``)
  the next, plain text the last resort (the plan is then extracted from prose). llama-cpp-python
  answers a ``json_schema`` request with a 500, FastAPI-based servers with a 422, others with a
  400; each names the field, so a refusal that names it steps one mode down.
- Chat templates without a system role (Gemma 2, early Mistral) make the server fail; the
  instructions then move into the first user message.
- Azure OpenAI's reasoning models refuse ``max_tokens`` (they want ``max_completion_tokens``) and
  any temperature but the default.
- A server with a small context window refuses prompt + ``max_tokens`` beyond it and says both
  numbers; the completion budget then shrinks to what fits, when enough is left for a plan.

Each lesson is kept for the process, so only the first request to a server pays for it.
``PLANNER_RESPONSE_FORMAT`` and ``PLANNER_INSTRUCTIONS_ROLE`` turn the learning off and force a choice.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from typing import Any

RESPONSE_MODES = ("json_schema", "json_object", "text")  # best first
MAX_TOKENS, MAX_COMPLETION_TOKENS = "max_tokens", "max_completion_tokens"  # the request field names
INSTRUCTION_ROLES = ("system", "user")
AUTO = "auto"
MIN_COMPLETION_TOKENS = 256  # less than this cannot hold a plan: fail instead of shrinking further

_MAX_SERVER_MESSAGE = 300

_SYSTEM_ROLE = re.compile(
    r"system role|system message|roles must alternate|role 'system'|role \"system\"|"
    r"conversation roles must",
    re.IGNORECASE,
)
# A server may quote the request's credentials back: bearer tokens (JWTs) never leave in a message.
_CREDENTIAL = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_.-]+|(?i:bearer)\s+[A-Za-z0-9._~+/=-]+")
_CONTEXT = re.compile(
    r"context (length|window|size)|maximum context|too many tokens|prompt is too long", re.IGNORECASE
)
_LIMIT = re.compile(r"(?:maximum context length is|context window of|n_ctx\D{0,4})\s*(\d+)", re.IGNORECASE)
_PROMPT = re.compile(r"\((\d+) in the messages|n_prompt_tokens\D{0,4}(\d+)", re.IGNORECASE)


@dataclass
class Learned:
    """What one (endpoint, model) accepts; starts optimistic, changes only on a refusal."""

    mode: str = "json_schema"
    schema_in_json_mode: bool = True  # llama.cpp-style servers constrain JSON mode with a schema
    system_role: bool = True
    token_parameter: str = MAX_TOKENS
    temperature: bool = True
    completion_cap: int | None = None  # what fit beside the prompt in a small context window


_LEARNED: dict[tuple[str, str], Learned] = {}
_LOCK = threading.Lock()


def learned(endpoint: str, model: str) -> Learned:
    """The process's shared record for ``model`` at ``endpoint`` (every client of it sees one)."""
    with _LOCK:
        return _LEARNED.setdefault((endpoint.rstrip("/"), model), Learned())


def forget() -> None:
    """Drop everything learned (tests; a process that changed servers under the same names)."""
    with _LOCK:
        _LEARNED.clear()


def error_text(exc: Any) -> str:
    """The whole error as one string, message and body, for matching (never shown as is)."""
    return f"{getattr(exc, 'message', '')} {getattr(exc, 'body', '')}"


def server_message(exc: Any) -> str:
    """The server's own words for a refusal, short: ``error.message``, FastAPI's ``detail``, or the SDK's."""
    body = getattr(exc, "body", None)
    text = ""
    if isinstance(body, dict):
        message, detail = body.get("message"), body.get("detail")
        if isinstance(message, str):
            text = message
        elif isinstance(detail, list):  # FastAPI's 422: [{"loc": [...], "msg": "..."}]
            text = "; ".join(_detail(item) for item in detail[:3])
        elif isinstance(detail, str):
            text = detail
    text = " ".join((text or str(getattr(exc, "message", "")) or type(exc).__name__).split())
    return _CREDENTIAL.sub("***", text)[:_MAX_SERVER_MESSAGE]


def _detail(item: Any) -> str:
    if not isinstance(item, dict):
        return str(item)
    where = ".".join(str(part) for part in item.get("loc", ()) if part != "body")
    return f"{item.get('msg', '')} (at {where})" if where else str(item.get("msg", ""))


def _refusal(status: int) -> bool:
    # 500 too: llama-cpp-python turns a request it cannot parse into a 500.
    return status in (400, 422, 500)


def rejects_response_format(status: int, text: str, mode: str) -> bool:
    """The server refused the ``response_format`` it was sent (``mode``), not something else."""
    if not _refusal(status) or mode == "text":
        return False
    lowered = text.lower()
    return "response_format" in lowered or mode in lowered or "json_schema" in lowered


def rejects_system_role(status: int, text: str) -> bool:
    """The chat template has no system role (the server says so instead of dropping it)."""
    return _refusal(status) and _SYSTEM_ROLE.search(text) is not None


def wants_max_completion_tokens(status: int, text: str) -> bool:
    return status == 400 and "max_completion_tokens" in text and "max_tokens" in text


def rejects_temperature(status: int, text: str) -> bool:
    lowered = text.lower()
    return status == 400 and "temperature" in lowered and ("support" in lowered or "unsupported" in lowered)


def context_overflow(status: int, text: str) -> tuple[int | None, int | None] | None:
    """(context window, prompt tokens) when the server refused for its context size, else None.

    Either number is None when the message does not say it (vLLM and OpenAI say both).
    """
    if status not in (400, 413, 422, 500) or _CONTEXT.search(text) is None:
        return None
    limit, prompt = _LIMIT.search(text), _PROMPT.search(text)
    prompt_tokens = next((int(group) for group in prompt.groups() if group), None) if prompt else None
    return (int(limit.group(1)) if limit else None), prompt_tokens


def least_room(max_tokens: int | None) -> int:
    """The smallest completion budget worth asking for when ``max_tokens`` does not fit: half of
    it (a plan budget leaves room for the repair round that may follow), at least 256 tokens."""
    return max(MIN_COMPLETION_TOKENS, (max_tokens or 0) // 2)


def next_mode(mode: str) -> str | None:
    """The mode one step down from ``mode``, or None below plain text."""
    index = RESPONSE_MODES.index(mode)
    return RESPONSE_MODES[index + 1] if index + 1 < len(RESPONSE_MODES) else None
