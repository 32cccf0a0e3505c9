"""The ChatModel over the ``openai`` SDK: one call, one deadline, and requests that adapt.

``PLANNER_TIMEOUT`` bounds a model call with all its retries. 408, 409, 429, 5xx and connection
failures are retried ``MAX_RETRIES`` times after what ``retry-after-ms`` or ``Retry-After`` says
(else an exponential backoff with jitter), never past the deadline. A request that timed out is
not retried: the server may still be generating its answer, and a retry would only queue behind
it. Refusals that say what the server does not take (a response format, the system role,
``max_tokens``, a temperature, a context too small) change the request instead
(capabilities.py), and the change is remembered per endpoint and model. Errors become ToolWeaver
errors that name the setting to check (chat_errors.py); they never carry a key or token.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import openai

from toolweaver.errors import ToolWeaverError
from toolweaver.planning import capabilities as caps
from toolweaver.planning.chat_errors import (
    Target,
    context_too_small,
    convert_error,
    format_refused,
    retry_wait,
    role_refused,
    timed_out,
)
from toolweaver.planning.ports import ChatReply, TokenUsage
from toolweaver.planning.prompt import fold_system

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletion

log = logging.getLogger(__name__)

MAX_RETRIES = 2
MAX_ADJUSTMENTS = 6  # request changes after refusals, per call: each is one-way, so few are possible
MAX_RETRY_WAIT_S = 60.0
REASONING_ALLOWANCE = 4096  # max_completion_tokens also pays for a reasoning model's hidden thinking
_RETRYABLE = frozenset({408, 409, 429})
_CONTEXT_MARGIN = 8  # tokens a server may add around the messages that its count left out


@dataclass
class _Call:
    """One complete() call: what was asked, and how far its request has been adjusted."""

    messages: list[dict[str, Any]]
    response_format: dict[str, Any] | None
    temperature: float
    max_tokens: int | None
    deadline: float
    attempts: int = 0
    retries: int = 0
    adjustments: int = 0
    schema_sent: bool = False

    @property
    def remaining(self) -> float:
        return self.deadline - time.monotonic()


class OpenAIChatModel:
    """A ChatModel over one SDK client (AsyncOpenAI or AsyncAzureOpenAI) per event loop.

    The client pools connections, and connections belong to the loop that opened them: the
    Functions worker runs every plan on one loop (one client), a CLI or test running loops one
    after another gets a client for each. The SDK's own retries are off: this class retries
    under one deadline.
    """

    def __init__(
        self,
        make_client: Callable[[], openai.AsyncOpenAI],
        *,
        model: str,
        target: Target,
        secrets: tuple[str, ...] = (),
        response_mode: str = caps.AUTO,
        instructions_role: str = caps.AUTO,
        max_retries: int = MAX_RETRIES,
    ) -> None:
        self._make_client = make_client
        self._model = model
        self.target = target
        self._secrets = tuple(secret for secret in secrets if secret)
        self.response_mode = response_mode
        self.instructions_role = instructions_role
        self.max_retries = max_retries
        self.learned = caps.learned(target.endpoint, model)
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, openai.AsyncOpenAI] = (
            weakref.WeakKeyDictionary()
        )

    @property
    def model(self) -> str:
        return self._model

    def __repr__(self) -> str:
        return f"OpenAIChatModel(model={self._model!r}, endpoint={self.target.endpoint!r})"

    def _client(self) -> openai.AsyncOpenAI:
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None or client.is_closed():
            client = self._make_client()
            self._clients[loop] = client
        return client

    async def aclose(self) -> None:
        """Close the running loop's client (at shutdown, or at the end of a test's loop)."""
        client = self._clients.pop(asyncio.get_running_loop(), None)
        if client is not None:
            await client.close()

    @property
    def mode(self) -> str:
        """The response format requests use now: the forced one, or what the server was found to take."""
        return self.learned.mode if self.response_mode == caps.AUTO else self.response_mode

    async def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        response_format: dict[str, Any] | None,
        temperature: float,
        max_tokens: int | None = None,
    ) -> ChatReply:
        call = _Call(
            list(messages), response_format, temperature, max_tokens, time.monotonic() + self.target.timeout_s
        )
        while True:
            try:
                completion = await self._attempt(call)
            except (openai.APITimeoutError, TimeoutError):
                raise self._scrubbed(timed_out(self.target, call.attempts)) from None
            except openai.APIStatusError as exc:
                try:
                    adjusted = call.adjustments < MAX_ADJUSTMENTS and self._adjust(exc, call)
                except ToolWeaverError as error:
                    raise error from None  # the SDK error may quote the request
                if adjusted:
                    call.adjustments += 1
                    continue
                await self._before_retry(exc, call, retryable=_retryable(exc.status_code))
            except openai.APIConnectionError as exc:
                await self._before_retry(exc, call, retryable=True)
            except openai.OpenAIError as exc:
                raise self._converted(exc, call) from None  # the SDK's message may quote request details
            else:
                return self._checked_reply(_reply(completion), call)

    async def _attempt(self, call: _Call) -> ChatCompletion:
        remaining = call.remaining
        if remaining <= 0:
            raise TimeoutError
        call.attempts += 1
        request = self._request(call)
        create = self._client().chat.completions.create(**request, timeout=remaining)
        # The SDK's timeout is per read; wait_for makes it one deadline for the whole answer.
        return await asyncio.wait_for(create, remaining)

    def _request(self, call: _Call) -> dict[str, Any]:
        learned = self.learned
        fold = self.instructions_role == "user" or (
            self.instructions_role == caps.AUTO and not learned.system_role
        )
        request: dict[str, Any] = {
            "model": self._model,
            "messages": cast(Any, fold_system(call.messages) if fold else call.messages),
        }
        if learned.temperature:
            request["temperature"] = call.temperature
        if call.max_tokens:
            budget = call.max_tokens
            if learned.token_parameter == caps.MAX_COMPLETION_TOKENS:
                budget += REASONING_ALLOWANCE
            if learned.completion_cap is not None:
                budget = min(budget, learned.completion_cap)
            request[learned.token_parameter] = budget
        response_format = self._format(call)
        if response_format is not None:
            request["response_format"] = response_format
        return request

    def _format(self, call: _Call) -> dict[str, Any] | None:
        wanted = call.response_format
        if wanted is None or self.mode == "text":
            return None
        if self.mode == "json_schema":
            return wanted
        call.schema_sent = self.learned.schema_in_json_mode and not self.target.azure
        if call.schema_sent:
            # llama.cpp's servers constrain JSON mode with a schema given here; others ignore it.
            return {"type": "json_object", "schema": wanted.get("json_schema", {}).get("schema", {})}
        return {"type": "json_object"}

    def _adjust(self, exc: openai.APIStatusError, call: _Call) -> bool:
        """Change what the next request asks for after a refusal that says why; False when the
        refusal is not one of those (it is retried or becomes an error)."""
        status, text, said = exc.status_code, caps.error_text(exc), caps.server_message(exc)
        learned = self.learned
        if call.response_format is not None and caps.rejects_response_format(status, text, self.mode):
            return self._step_down(call, status, said)
        if caps.rejects_system_role(status, text) and learned.system_role:
            if self.instructions_role == "system":
                raise self._scrubbed(role_refused(self.target, said, status))
            log.warning("%s has no system role (%s); instructions go to the user", self.target.host, said)
            learned.system_role = False
            return self.instructions_role == caps.AUTO
        if caps.wants_max_completion_tokens(status, text) and learned.token_parameter == caps.MAX_TOKENS:
            learned.token_parameter = caps.MAX_COMPLETION_TOKENS
            return True
        if caps.rejects_temperature(status, text) and learned.temperature:
            learned.temperature = False
            return True
        overflow = caps.context_overflow(status, text)
        if overflow is not None:
            return self._shrink(call, *overflow, said)
        return False

    def _step_down(self, call: _Call, status: int, said: str) -> bool:
        learned = self.learned
        if call.schema_sent:  # JSON mode without the schema first: a server may refuse just that
            learned.schema_in_json_mode = False
            return True
        lower = caps.next_mode(self.mode)
        if self.response_mode != caps.AUTO or lower is None:
            raise self._scrubbed(format_refused(self.target, self.mode, said, status))
        host = self.target.host
        log.warning("%s refused response_format %s (%d: %s); using %s", host, self.mode, status, said, lower)
        learned.mode = lower
        return True

    def _shrink(self, call: _Call, limit: int | None, prompt: int | None, said: str) -> bool:
        room = (limit - prompt - _CONTEXT_MARGIN) if limit is not None and prompt is not None else None
        current = self.learned.completion_cap or (call.max_tokens or 0)
        if room is None or room < caps.least_room(call.max_tokens) or room >= current:
            raise self._scrubbed(context_too_small(self.target, limit, prompt, said))
        log.warning("%s has a %d-token context; plans get %d tokens", self.target.host, limit, room)
        self.learned.completion_cap = room
        return True

    def _checked_reply(self, reply: ChatReply, call: _Call) -> ChatReply:
        """``reply``, unless the server cut it for its context window, as llama-cpp-python does
        silently (it lowers max_tokens to what fits): a cut far below the budget asked for, with
        too little room for an answer, is a ContextWindowError like an explicit refusal."""
        asked = self._request(call).get(self.learned.token_parameter)
        usage = reply.usage
        if not reply.truncated or not isinstance(asked, int) or usage.completion >= asked - _CONTEXT_MARGIN:
            return reply
        if 0 < usage.completion < caps.least_room(call.max_tokens):
            window = usage.prompt + usage.completion
            said = f"the answer was cut after {usage.completion} tokens, at about {window} tokens in all"
            raise self._scrubbed(context_too_small(self.target, window, usage.prompt, said))
        return reply

    async def _before_retry(self, exc: openai.OpenAIError, call: _Call, *, retryable: bool) -> None:
        """Wait before the next attempt, or raise when there is none: not retryable, out of
        retries, or the wait would pass the deadline."""
        if not retryable or call.retries >= self.max_retries:
            raise self._converted(exc, call) from None
        jitter = 0.75 + random.random() / 2  # noqa: S311 # nosec B311 - spreads retries, no secret
        backoff = min(MAX_RETRY_WAIT_S, 0.5 * 2**call.retries) * jitter
        wait = retry_wait(exc, backoff) if isinstance(exc, openai.APIStatusError) else backoff
        if wait > MAX_RETRY_WAIT_S or wait >= call.remaining:
            raise self._converted(exc, call) from None
        call.retries += 1
        await asyncio.sleep(wait)

    def _converted(self, exc: openai.OpenAIError, call: _Call) -> ToolWeaverError:
        return self._scrubbed(convert_error(exc, self.target, self._model, attempts=call.attempts))

    def _scrubbed(self, error: ToolWeaverError) -> ToolWeaverError:
        text = str(error)
        if any(secret in text for secret in self._secrets):  # defence in depth: never echo a key
            for secret in self._secrets:
                text = text.replace(secret, "***")
            error.args = (text,)
        return error


def _retryable(status: int) -> bool:
    return status in _RETRYABLE or status >= 500


def _reply(completion: ChatCompletion) -> ChatReply:
    usage = completion.usage
    details = usage.prompt_tokens_details if usage is not None else None
    tokens = TokenUsage(
        prompt=usage.prompt_tokens if usage is not None else 0,
        completion=usage.completion_tokens if usage is not None else 0,
        cached=(details.cached_tokens or 0) if details is not None else 0,
    )
    choice = completion.choices[0] if completion.choices else None
    content = (choice.message.content or "") if choice is not None and choice.message is not None else ""
    truncated = choice is not None and choice.finish_reason == "length"
    return ChatReply(content=content, usage=tokens, truncated=truncated)
