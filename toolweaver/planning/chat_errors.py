"""Model-server failures as ToolWeaver errors: what went wrong, in the server's own words, and
which setting, role or server option to change. Never a key or token, never "try again later"
for a request the server refused (only for one it could not take now: 429, 503).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import openai

from toolweaver.errors import ConfigError, PlannerUnavailableError, PlanningError, ToolWeaverError
from toolweaver.planning.capabilities import server_message
from toolweaver.planning.ports import ContextWindowError

AZURE_OPENAI_ROLE = "Cognitive Services OpenAI User"
DEFAULT_RETRY_AFTER_S = 10
BUSY = (429, 503)  # the server is overloaded or limits the rate: later may well work
CONTEXT_OPTIONS = (
    "llama.cpp: llama-server -c 8192; llama-cpp-python: --n_ctx 8192; vLLM: --max-model-len 8192; "
    "Ollama: OLLAMA_CONTEXT_LENGTH=8192"
)


@dataclass(frozen=True)
class Target:
    """Where the model lives and which settings say so: what every error message names."""

    endpoint: str
    endpoint_setting: str  # AZURE_OPENAI_ENDPOINT or OPENAI_BASE_URL
    model_setting: str  # AZURE_OPENAI_DEPLOYMENT or OPENAI_MODEL
    azure: bool
    timeout_s: float

    @property
    def host(self) -> str:
        return urlsplit(self.endpoint).netloc or self.endpoint

    @property
    def where(self) -> str:
        return f"{self.host} ({self.endpoint_setting})"


def convert_error(  # noqa: PLR0911 - one exit per kind of failure
    exc: openai.OpenAIError, target: Target, model: str, *, attempts: int = 1
) -> ToolWeaverError:
    """The ToolWeaver error for an SDK error that no retry or fallback got past."""
    if isinstance(exc, openai.APITimeoutError):
        return timed_out(target, attempts)
    if isinstance(exc, openai.APIConnectionError):
        return PlannerUnavailableError(
            f"cannot reach the language model at {target.where} ({_tries(attempts)}): check "
            f"{target.endpoint_setting} and that the server is running"
        )
    if not isinstance(exc, openai.APIStatusError):
        return PlanningError(f"the language model call failed: {type(exc).__name__}")
    status, said = exc.status_code, server_message(exc)
    if status in (401, 403):
        return ConfigError(_auth_message(status, target))
    if status == 404:
        return ConfigError(
            f"{target.where} has no model {model!r} (404: {said}): check {target.model_setting}"
            + (" and AZURE_OPENAI_API_VERSION" if target.azure else "")
        )
    if status in BUSY:
        return PlannerUnavailableError(
            f"the language model at {target.host} is busy: it answered {status} ({said}), "
            f"{_tries(attempts)}; try again later",
            retry_after=retry_after(exc),
        )
    if status >= 500:
        return PlannerUnavailableError(
            f"the language model server at {target.host} failed with {status} ({said}), "
            f"{_tries(attempts)}: see the server's log",
            retry_after=retry_after(exc),
        )
    return PlanningError(f"the language model at {target.host} refused the request ({status}): {said}")


def timed_out(target: Target, attempts: int) -> PlannerUnavailableError:
    """PLANNER_TIMEOUT is one deadline for a model call with all its retries; a request that timed
    out is not sent again (the server may still be working on it, and a retry would wait behind it)."""
    return PlannerUnavailableError(
        f"the language model at {target.where} did not answer within {target.timeout_s:g} s, the "
        f"PLANNER_TIMEOUT for one model call with its retries ({_tries(attempts)}, the last one timed "
        f"out and was not repeated): raise PLANNER_TIMEOUT, or use a faster model or fewer tools "
        f"(PLANNER_TOP_K)"
    )


def format_refused(target: Target, mode: str, said: str, status: int) -> ConfigError:
    """The server refused the response format PLANNER_RESPONSE_FORMAT forces."""
    others = {"json_schema": "json_object or text", "json_object": "text"}.get(mode, "auto")
    return ConfigError(
        f"the model server at {target.host} refused response_format {mode!r} ({status}: {said}): set "
        f"PLANNER_RESPONSE_FORMAT to {others}, or to auto to find what it takes"
    )


def role_refused(target: Target, said: str, status: int) -> ConfigError:
    return ConfigError(
        f"the model at {target.host} refused the system message ({status}: {said}): its chat "
        f"template has no system role; set PLANNER_INSTRUCTIONS_ROLE=user (or auto)"
    )


def context_too_small(target: Target, limit: int | None, prompt: int | None, said: str) -> ContextWindowError:
    """The prompt leaves too little of the server's context window for a plan."""
    sizes = f"the prompt is {prompt} tokens" if prompt is not None else "the prompt is too long"
    window = f"its context window of {limit} tokens" if limit is not None else "its context window"
    return ContextWindowError(
        f"the model at {target.host} cannot take this request: {sizes}, too much for {window} "
        f"with room for a plan (server: {said}). Offer fewer tools (PLANNER_TOP_K, "
        f"PLANNER_FULL_CATALOG_MAX) or start the server with a larger context ({CONTEXT_OPTIONS})",
        limit=limit,
        prompt=prompt,
    )


def _tries(attempts: int) -> str:
    return "1 attempt" if attempts == 1 else f"{attempts} attempts"


def _auth_message(status: int, target: Target) -> str:
    if not target.azure:
        return (
            f"the server at {target.host} refused the request ({status}): check OPENAI_API_KEY "
            f"(the key for the server at OPENAI_BASE_URL)"
        )
    if status == 401:
        return (
            f"Azure OpenAI at {target.host} did not accept the app's Entra ID token (401): check that "
            f"AZURE_OPENAI_ENDPOINT is the account's endpoint and AZURE_CLIENT_ID the identity that "
            f"has the role {AZURE_OPENAI_ROLE!r} on it"
        )
    return (
        f"the app's identity may not use Azure OpenAI at {target.host} (403): give the identity "
        f"(AZURE_CLIENT_ID; locally your az login) the role {AZURE_OPENAI_ROLE!r} on the Azure "
        f"OpenAI account, and check the account's network rules let the app in"
    )


def retry_after(exc: openai.APIStatusError) -> int:
    """Seconds the server asked callers to wait (Retry-After), else a default."""
    raw = exc.response.headers.get("retry-after")
    try:
        return max(1, int(float(raw))) if raw is not None else DEFAULT_RETRY_AFTER_S
    except ValueError:
        return DEFAULT_RETRY_AFTER_S


def retry_wait(exc: openai.APIStatusError, backoff: float) -> float:
    """How long to wait before retrying: retry-after-ms, Retry-After (as the SDK reads them), or
    ``backoff`` when the server said nothing."""
    headers = exc.response.headers
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            return max(0.0, float(raw) * scale)
        except ValueError:
            continue
    return backoff
