"""What the planner needs from a language model: one chat completion, with its token usage.

The planner depends on this protocol only; ``openai_chat`` implements it over the ``openai`` SDK
(Azure OpenAI or any OpenAI-compatible server), and tests can use anything that speaks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from toolweaver.errors import ConfigError


@dataclass(frozen=True)
class TokenUsage:
    """Tokens one or more model calls used; ``cached`` is the part of ``prompt`` served from the
    provider's prompt cache (cheaper and faster), not an extra amount."""

    prompt: int = 0
    completion: int = 0
    cached: int = 0

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            self.prompt + other.prompt, self.completion + other.completion, self.cached + other.cached
        )

    @property
    def total(self) -> int:
        return self.prompt + self.completion


@dataclass(frozen=True)
class ChatReply:
    """The assistant's text (empty when the model refused or said nothing) and what it cost;
    ``truncated`` when it stopped at the token limit (finish_reason "length")."""

    content: str
    usage: TokenUsage
    truncated: bool = False


class ContextWindowError(ConfigError):
    """The prompt leaves too little of the server's context window for an answer; ``limit`` and
    ``prompt`` are the server's figures (None where it did not say), so a caller can offer less."""

    def __init__(self, message: str, *, limit: int | None, prompt: int | None) -> None:
        self.limit = limit
        self.prompt = prompt
        super().__init__(message)


class ChatModel(Protocol):
    """A chat completion model. ``model`` names it (the plan cache keys on it)."""

    @property
    def model(self) -> str: ...

    async def complete(
        self,
        messages: list[dict[str, Any]],
        *,
        response_format: dict[str, Any] | None,
        temperature: float,
        max_tokens: int | None = None,
    ) -> ChatReply:
        """One completion of ``messages`` of at most ``max_tokens`` tokens; ``response_format`` is
        the structured output wanted (a ``json_schema`` format), which an adapter may downgrade to
        what the server takes. Raises ConfigError (setup/permission; ContextWindowError when the
        prompt does not fit the model's context) or PlanningError."""
        ...
