"""ChatModel adapters on the ``openai`` SDK: Azure OpenAI (Entra ID only) or any OpenAI-compatible server.

Azure OpenAI is always called with a bearer token of the app's identity, never with a key: the
account has local auth disabled, and a key in app settings is a secret to leak. The token
provider is built at the edge (``toolweaver.identity``) and passed in: this module never imports
azure-identity. OpenAI-compatible servers (a local model, say) take ``OPENAI_API_KEY`` when they
need one. How a call retries, times out and adapts to a server is in openai_model.py.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import openai

from toolweaver.errors import ConfigError, ToolWeaverError
from toolweaver.planning import capabilities as caps
from toolweaver.planning.chat_errors import Target
from toolweaver.planning.openai_model import MAX_RETRIES, OpenAIChatModel
from toolweaver.planning.ports import ChatModel

if TYPE_CHECKING:
    from toolweaver.settings import Settings

__all__ = [
    "COGNITIVE_SERVICES_SCOPE",
    "DEFAULT_AZURE_API_VERSION",
    "Modes",
    "OpenAIChatModel",
    "Target",
    "azure_chat_model",
    "chat_model_from_settings",
    "openai_compatible_chat_model",
]

DEFAULT_AZURE_API_VERSION = "2024-10-21"  # the current GA data-plane version with structured outputs
COGNITIVE_SERVICES_SCOPE = "https://cognitiveservices.azure.com/.default"
_MAX_SERVER_MESSAGE = 300

TokenProvider = Callable[[], str]


def bearer_token(provider: TokenProvider) -> Callable[[], Awaitable[str]]:
    """The SDK's async token provider over ``provider`` (``toolweaver.identity.bearer_token_provider``).

    A token refresh is network I/O (the managed identity endpoint, or az CLI locally), so it runs
    in a worker thread: the event loop that runs plans and tool calls never waits on it.
    Credential errors explain which sign-in methods were tried; they carry no token.
    """

    def token() -> str:
        try:
            return provider()
        except ToolWeaverError:
            raise
        except Exception as exc:
            first_line = str(exc).strip().splitlines()[0][:_MAX_SERVER_MESSAGE] if str(exc).strip() else ""
            raise ConfigError(
                f"cannot get an Entra ID token for Azure OpenAI ({type(exc).__name__}: {first_line}); "
                f"in Azure check AZURE_CLIENT_ID names the app's managed identity, locally run `az login`"
            ) from None

    async def provide() -> str:
        return await asyncio.to_thread(token)

    return provide


@dataclass(frozen=True)
class Modes:
    """What the settings force (``auto``: learn from the server): PLANNER_RESPONSE_FORMAT and
    PLANNER_INSTRUCTIONS_ROLE."""

    response_format: str = caps.AUTO
    instructions_role: str = caps.AUTO


def azure_chat_model(
    *,
    endpoint: str,
    deployment: str,
    token_provider: TokenProvider,
    api_version: str = "",
    timeout_s: float = 60.0,
    max_retries: int = MAX_RETRIES,
    modes: Modes = Modes(),
) -> OpenAIChatModel:
    """Azure OpenAI's deployment ``deployment`` at ``endpoint``, signed in with Entra ID tokens
    from ``token_provider`` (synchronous, caching: ``toolweaver.identity.bearer_token_provider``)."""
    _check_url(endpoint, "AZURE_OPENAI_ENDPOINT", bearer=True)
    if not deployment:
        raise ConfigError("AZURE_OPENAI_DEPLOYMENT is empty: set it to the name of the model deployment")
    provider = bearer_token(token_provider)
    version = api_version or DEFAULT_AZURE_API_VERSION

    def make() -> openai.AsyncOpenAI:
        return openai.AsyncAzureOpenAI(
            azure_endpoint=endpoint,
            azure_deployment=deployment,
            api_version=version,
            azure_ad_token_provider=provider,
            timeout=timeout_s,
            max_retries=0,  # OpenAIChatModel retries, under one deadline
        )

    target = Target(endpoint, "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_DEPLOYMENT", True, timeout_s)
    return OpenAIChatModel(
        make,
        model=deployment,
        target=target,
        max_retries=max_retries,
        response_mode=modes.response_format,
        instructions_role=modes.instructions_role,
    )


def openai_compatible_chat_model(
    *,
    base_url: str,
    model: str,
    api_key: str = "",
    timeout_s: float = 60.0,
    max_retries: int = MAX_RETRIES,
    modes: Modes = Modes(),
) -> OpenAIChatModel:
    """Model ``model`` on any server that speaks Chat Completions at ``base_url``."""
    _check_url(base_url, "OPENAI_BASE_URL", bearer=False)
    if not model:
        raise ConfigError(
            "OPENAI_MODEL is empty: set it to the model name the server at OPENAI_BASE_URL serves"
        )

    def make() -> openai.AsyncOpenAI:
        # The SDK insists on a key; most local servers want none and ignore the header.
        key = api_key or "unused"
        return openai.AsyncOpenAI(base_url=base_url, api_key=key, timeout=timeout_s, max_retries=0)

    target = Target(base_url, "OPENAI_BASE_URL", "OPENAI_MODEL", False, timeout_s)
    return OpenAIChatModel(
        make,
        model=model,
        target=target,
        secrets=(api_key,),
        max_retries=max_retries,
        response_mode=modes.response_format,
        instructions_role=modes.instructions_role,
    )


def chat_model_from_settings(settings: Settings, *, token_provider: TokenProvider) -> ChatModel | None:
    """Azure OpenAI when AZURE_OPENAI_ENDPOINT is set, else the server at OPENAI_BASE_URL, else None.

    ``token_provider`` gives Entra ID tokens for COGNITIVE_SERVICES_SCOPE; the edge builds it
    (``toolweaver.identity.bearer_token_provider``), and it is first called when a token is needed.
    """
    timeout_s = float(settings.planner_timeout)
    modes = Modes(settings.planner_response_format, settings.planner_instructions_role)
    if settings.azure_openai_endpoint:
        return azure_chat_model(
            endpoint=settings.azure_openai_endpoint,
            deployment=settings.azure_openai_deployment,
            api_version=settings.azure_openai_api_version,
            token_provider=token_provider,
            timeout_s=timeout_s,
            modes=modes,
        )
    if settings.openai_base_url:
        return openai_compatible_chat_model(
            base_url=settings.openai_base_url,
            model=settings.openai_model,
            api_key=settings.openai_api_key,
            timeout_s=timeout_s,
            modes=modes,
        )
    return None


def _check_url(url: str, setting: str, *, bearer: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{setting} must be an http(s) URL like https://host/, got {url!r}")
    if bearer and parts.scheme != "https" and not _is_loopback(parts.hostname):
        # A bearer token over plain HTTP could be read on the way; loopback is for local tests.
        raise ConfigError(f"{setting} must be an https URL: the app's Entra ID token is sent to it")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
