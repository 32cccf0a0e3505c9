"""What the planner needs from a language model: one chat completion, with its token usage.

The planner depends on this protocol only; ``openai_chat`` implements it over the ``openai`` SDK
(Azure OpenAI or any OpenAI-compatible server), and tests can use anything that speaks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


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
    """The assistant's text (empty when the model refused or said nothing) and what it cost."""

    content: str
    usage: TokenUsage


class ChatModel(Protocol):
    """A chat completion model. ``model`` names it (the plan cache keys on it)."""

    @property
    def model(self) -> str: ...

    async def complete(
        self, messages: list[dict[str, Any]], *, response_format: dict[str, Any] | None, temperature: float
    ) -> ChatReply:
        """One completion of ``messages``; raises ConfigError (setup/permission) or PlanningError."""
        ...
