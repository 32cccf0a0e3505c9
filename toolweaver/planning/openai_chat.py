"""ChatModel adapters on the ``openai`` SDK: Azure OpenAI (Entra ID only) or any OpenAI-compatible server.

Azure OpenAI is always called with a bearer token of the app's identity, never with a key: the
account has local auth disabled, and a key in app settings is a secret to leak. OpenAI-compatible
servers (a local model, say) take ``OPENAI_API_KEY`` when they need one.

The SDK retries 408/409/429/5xx and connection errors ``MAX_RETRIES`` times; it waits what
``Retry-After`` (or ``retry-after-ms``) says when the server says it (up to two minutes), else
backs off exponentially with jitter. Errors become ToolWeaver errors that name the setting to
check; they never carry a key or token.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import threading
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import openai

from toolweaver.errors import ConfigError, PlannerUnavailableError, PlanningError, ToolWeaverError
from toolweaver.planning.ports import ChatModel, ChatReply, TokenUsage

if TYPE_CHECKING:
    from openai.types.chat import ChatCompletion

    from toolweaver.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_AZURE_API_VERSION = "2024-10-21"  # the current GA data-plane version with structured outputs
COGNITIVE_SERVICES_SCOPE = "https://cognitiveservices.azure.com/.default"
AZURE_OPENAI_ROLE = "Cognitive Services OpenAI User"
MAX_RETRIES = 2
DEFAULT_RETRY_AFTER_S = 10
_MAX_SERVER_MESSAGE = 300
_JSON_OBJECT = {"type": "json_object"}


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


class OpenAIChatModel:
    """A ChatModel over one SDK client (AsyncOpenAI or AsyncAzureOpenAI) per event loop.

    The client pools connections, and connections belong to the loop that opened them: the
    Functions worker runs every plan on one loop (one client), a CLI or test running loops one
    after another gets a client for each.
    """

    def __init__(
        self,
        make_client: Callable[[], openai.AsyncOpenAI],
        *,
        model: str,
        target: Target,
        secrets: tuple[str, ...] = (),
    ) -> None:
        self._make_client = make_client
        self._model = model
        self.target = target
        self._secrets = tuple(secret for secret in secrets if secret)
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, openai.AsyncOpenAI] = (
            weakref.WeakKeyDictionary()
        )
        # Some OpenAI-compatible servers reject json_schema; after the first refusal we ask for
        # plain JSON mode (the prompt describes the format anyway) instead of failing every plan.
        self._json_schema_supported = True

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

    async def complete(
        self, messages: list[dict[str, Any]], *, response_format: dict[str, Any] | None, temperature: float
    ) -> ChatReply:
        wanted = response_format
        if wanted is not None and wanted.get("type") == "json_schema" and not self._json_schema_supported:
            wanted = _JSON_OBJECT
        try:
            try:
                completion = await self._create(messages, wanted, temperature)
            except openai.BadRequestError as exc:
                if wanted is None or wanted is _JSON_OBJECT or not _rejects_response_format(exc):
                    raise
                log.warning(
                    "%s does not take json_schema response formats; using JSON mode", self.target.host
                )
                self._json_schema_supported = False
                completion = await self._create(messages, _JSON_OBJECT, temperature)
        except openai.OpenAIError as exc:
            raise self._converted(exc) from None  # the SDK's message may quote request details
        return _reply(completion)

    async def _create(
        self, messages: list[dict[str, Any]], response_format: dict[str, Any] | None, temperature: float
    ) -> ChatCompletion:
        return await self._client().chat.completions.create(
            model=self._model,
            messages=cast(Any, messages),  # plain dicts in the Chat Completions shape
            temperature=temperature,
            response_format=openai.omit if response_format is None else cast(Any, response_format),
        )

    def _converted(self, exc: openai.OpenAIError) -> ToolWeaverError:
        error = convert_error(exc, self.target, self._model)
        text = str(error)
        if any(secret in text for secret in self._secrets):  # defence in depth: never echo a key
            for secret in self._secrets:
                text = text.replace(secret, "***")
            error.args = (text,)
        return error


def _reply(completion: ChatCompletion) -> ChatReply:
    usage = completion.usage
    details = usage.prompt_tokens_details if usage is not None else None
    tokens = TokenUsage(
        prompt=usage.prompt_tokens if usage is not None else 0,
        completion=usage.completion_tokens if usage is not None else 0,
        cached=(details.cached_tokens or 0) if details is not None else 0,
    )
    message = completion.choices[0].message if completion.choices else None
    return ChatReply(content=(message.content or "") if message is not None else "", usage=tokens)


def _rejects_response_format(exc: openai.BadRequestError) -> bool:
    text = f"{exc.message} {exc.body}".lower()
    return "response_format" in text or "json_schema" in text


def convert_error(  # noqa: PLR0911 - one exit per kind of failure
    exc: openai.OpenAIError, target: Target, model: str
) -> ToolWeaverError:
    """The ToolWeaver error for an SDK error: what went wrong, and which setting or role to check."""
    where = f"{target.host} ({target.endpoint_setting})"
    if isinstance(exc, openai.APITimeoutError):
        return PlannerUnavailableError(
            f"the language model at {where} did not answer within {target.timeout_s:g} s "
            f"(PLANNER_TIMEOUT), retries included; try again, or raise PLANNER_TIMEOUT"
        )
    if isinstance(exc, openai.APIConnectionError):
        return PlannerUnavailableError(
            f"cannot reach the language model at {where}: check {target.endpoint_setting}"
        )
    if not isinstance(exc, openai.APIStatusError):
        return PlanningError(f"the language model call failed: {type(exc).__name__}")
    status = exc.status_code
    if status in (401, 403):
        return ConfigError(_auth_message(status, target))
    if status == 404:
        return ConfigError(
            f"{where} has no model {model!r} (404): check {target.model_setting}"
            + (" and AZURE_OPENAI_API_VERSION" if target.azure else "")
        )
    if status == 429 or status >= 500:
        return PlannerUnavailableError(
            f"the language model at {target.host} answered {status} after {MAX_RETRIES} retries; "
            "try again later",
            retry_after=_retry_after(exc),
        )
    return PlanningError(f"the language model refused the request ({status}): {_server_message(exc)}")


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


def _retry_after(exc: openai.APIStatusError) -> int:
    raw = exc.response.headers.get("retry-after")
    try:
        return max(1, int(float(raw))) if raw is not None else DEFAULT_RETRY_AFTER_S
    except ValueError:
        return DEFAULT_RETRY_AFTER_S


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    message = body.get("message") if isinstance(body, dict) else None
    text = message if isinstance(message, str) and message else exc.message
    return text[:_MAX_SERVER_MESSAGE]


def bearer_token_provider(credential_factory: Callable[[], Any]) -> Callable[[], Awaitable[str]]:
    """An async token provider for the SDK over ``credential_factory()``'s ``get_token``.

    ``azure.identity.get_bearer_token_provider`` caches the token and refreshes it before it
    expires; it duck-types the credential (anything with ``get_token(*scopes)`` returning
    ``.token`` and ``.expires_on``). It is synchronous, and a refresh is network I/O (the managed
    identity endpoint, or az CLI locally), so it runs in a worker thread: the event loop that
    runs plans and tool calls never waits on it. The credential is built on first use.
    """
    lock = threading.Lock()
    built: list[Callable[[], str]] = []

    def token() -> str:
        with lock:
            if not built:
                from azure.identity import get_bearer_token_provider

                built.append(get_bearer_token_provider(credential_factory(), COGNITIVE_SERVICES_SCOPE))
            provider = built[0]
        try:
            return provider()
        except ToolWeaverError:
            raise
        except Exception as exc:
            # Credential errors explain which sign-in methods were tried; they carry no token.
            first_line = str(exc).strip().splitlines()[0][:_MAX_SERVER_MESSAGE] if str(exc).strip() else ""
            raise ConfigError(
                f"cannot get an Entra ID token for Azure OpenAI ({type(exc).__name__}: {first_line}); "
                f"in Azure check AZURE_CLIENT_ID names the app's managed identity, locally run `az login`"
            ) from None

    async def provide() -> str:
        return await asyncio.to_thread(token)

    return provide


def azure_chat_model(
    *,
    endpoint: str,
    deployment: str,
    credential_factory: Callable[[], Any],
    api_version: str = "",
    timeout_s: float = 60.0,
    max_retries: int = MAX_RETRIES,
) -> OpenAIChatModel:
    """Azure OpenAI's deployment ``deployment`` at ``endpoint``, signed in with Entra ID tokens."""
    _check_url(endpoint, "AZURE_OPENAI_ENDPOINT", bearer=True)
    if not deployment:
        raise ConfigError("AZURE_OPENAI_DEPLOYMENT is empty: set it to the name of the model deployment")
    provider = bearer_token_provider(credential_factory)
    version = api_version or DEFAULT_AZURE_API_VERSION

    def make() -> openai.AsyncOpenAI:
        return openai.AsyncAzureOpenAI(
            azure_endpoint=endpoint,
            azure_deployment=deployment,
            api_version=version,
            azure_ad_token_provider=provider,
            timeout=timeout_s,
            max_retries=max_retries,
        )

    target = Target(endpoint, "AZURE_OPENAI_ENDPOINT", "AZURE_OPENAI_DEPLOYMENT", True, timeout_s)
    return OpenAIChatModel(make, model=deployment, target=target)


def openai_compatible_chat_model(
    *, base_url: str, model: str, api_key: str = "", timeout_s: float = 60.0, max_retries: int = MAX_RETRIES
) -> OpenAIChatModel:
    """Model ``model`` on any server that speaks Chat Completions at ``base_url``."""
    _check_url(base_url, "OPENAI_BASE_URL", bearer=False)
    if not model:
        raise ConfigError(
            "OPENAI_MODEL is empty: set it to the model name the server at OPENAI_BASE_URL serves"
        )

    def make() -> openai.AsyncOpenAI:
        # The SDK insists on a key; most local servers want none and ignore the header.
        return openai.AsyncOpenAI(
            base_url=base_url, api_key=api_key or "unused", timeout=timeout_s, max_retries=max_retries
        )

    target = Target(base_url, "OPENAI_BASE_URL", "OPENAI_MODEL", False, timeout_s)
    return OpenAIChatModel(make, model=model, target=target, secrets=(api_key,))


def chat_model_from_settings(
    settings: Settings, *, credential_factory: Callable[[], Any]
) -> ChatModel | None:
    """Azure OpenAI when AZURE_OPENAI_ENDPOINT is set, else the server at OPENAI_BASE_URL, else None.

    ``credential_factory`` builds the app's credential (``toolweaver.identity.credential_factory``);
    it is called once, when the first token is needed.
    """
    timeout_s = float(settings.planner_timeout)
    if settings.azure_openai_endpoint:
        return azure_chat_model(
            endpoint=settings.azure_openai_endpoint,
            deployment=settings.azure_openai_deployment,
            api_version=settings.azure_openai_api_version,
            credential_factory=credential_factory,
            timeout_s=timeout_s,
        )
    if settings.openai_base_url:
        return openai_compatible_chat_model(
            base_url=settings.openai_base_url,
            model=settings.openai_model,
            api_key=settings.openai_api_key,
            timeout_s=timeout_s,
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
