"""The planner's ChatModel adapters on the openai SDK, against a real Chat Completions server on loopback.

Azure OpenAI gets an Entra ID bearer token and never a key; 429s are retried after Retry-After,
under one deadline; failures become ToolWeaver errors that name the setting or role to check and
never echo a key. The habits of real servers (refused formats, no system role, small context
windows, reasoning deployments) are in test_planner_servers.py.
"""

from __future__ import annotations

import ast
import asyncio
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers.chat_server import ChatServer, run_closing, running_chat_server
from tests.servers.loopback import closed_port
from toolweaver.errors import ConfigError, PlannerUnavailableError, PlanningError
from toolweaver.identity import bearer_token_provider
from toolweaver.observability.metrics import REGISTRY
from toolweaver.planning import openai_chat
from toolweaver.planning.openai_chat import (
    COGNITIVE_SERVICES_SCOPE,
    DEFAULT_AZURE_API_VERSION,
    OpenAIChatModel,
    azure_chat_model,
    chat_model_from_settings,
    openai_compatible_chat_model,
)
from toolweaver.planning.planner import Planner
from toolweaver.planning.ports import ChatReply, TokenUsage
from toolweaver.planning.schema import response_format
from toolweaver.settings import DEMO_CATALOG, Settings

TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOi.test-token.signature"  # noqa: S105 - a made-up token
MESSAGES = [{"role": "system", "content": "Answer in JSON."}, {"role": "user", "content": "hi"}]
PLAN = {"steps": [{"id": "s1", "tool": "echo", "arguments": {"text": "hi"}}]}
RESPONSE_FORMAT = response_format([])


class FakeToken:
    def __init__(self, token: str, expires_on: int) -> None:
        self.token = token
        self.expires_on = expires_on


class FakeCredential:
    """Like azure-identity's credentials: ``get_token(*scopes)``; records the scopes asked for."""

    def __init__(self, *, error: Exception | None = None) -> None:
        self.scopes: list[tuple[str, ...]] = []
        self.error = error

    def get_token(self, *scopes: str, **kwargs: Any) -> FakeToken:
        self.scopes.append(scopes)
        if self.error is not None:
            raise self.error
        return FakeToken(TOKEN, int(time.time()) + 3600)


@pytest.fixture
def server() -> Iterator[ChatServer]:
    with running_chat_server() as running:
        yield running


def azure(server: ChatServer, credential: FakeCredential, **options: Any) -> OpenAIChatModel:
    tokens = bearer_token_provider(lambda: credential, COGNITIVE_SERVICES_SCOPE)
    return azure_chat_model(endpoint=server.url, deployment="planner-dep", token_provider=tokens, **options)


def compatible(url: str, **options: Any) -> OpenAIChatModel:
    return openai_compatible_chat_model(base_url=url, model="local-model", **{"timeout_s": 10, **options})


def complete(chat: OpenAIChatModel, response_format: dict[str, Any] | None = RESPONSE_FORMAT) -> ChatReply:
    return run_closing(chat, chat.complete(MESSAGES, response_format=response_format, temperature=0.0))


# --- Azure OpenAI: Entra ID only -----------------------------------------------------------------


def test_azure_sends_the_bearer_token_and_never_a_key(
    server: ChatServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SDK would pick these up if the adapter let it: an explicit token provider wins.
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "key-from-the-environment")
    monkeypatch.setenv("OPENAI_API_KEY", "another-key-from-the-environment")
    credential = FakeCredential()
    chat = azure(server, credential)
    server.enqueue(PLAN, usage={"prompt_tokens": 2000, "completion_tokens": 25, "cached_tokens": 1920})
    server.enqueue(PLAN)

    async def twice() -> list[ChatReply]:
        replies = [
            await chat.complete(MESSAGES, response_format=RESPONSE_FORMAT, temperature=0.0) for _ in range(2)
        ]
        await chat.aclose()
        return replies

    first, _ = asyncio.run(twice())
    assert first.usage == TokenUsage(prompt=2000, completion=25, cached=1920)
    for sent in server.history:
        assert sent.path == "/openai/deployments/planner-dep/chat/completions"
        assert sent.query == {"api-version": DEFAULT_AZURE_API_VERSION}
        assert sent.headers["authorization"] == f"Bearer {TOKEN}"
        assert "api-key" not in sent.headers
        assert sent.body["model"] == "planner-dep"
    assert credential.scopes == [(COGNITIVE_SERVICES_SCOPE,)]  # one token, cached for the second call


def test_azure_api_version_comes_from_the_setting(server: ChatServer) -> None:
    server.enqueue(PLAN)
    complete(azure(server, FakeCredential(), api_version="2025-01-01-preview"))
    assert server.history[0].query == {"api-version": "2025-01-01-preview"}


def test_a_credential_that_cannot_sign_in_is_a_config_error(server: ChatServer) -> None:
    credential = FakeCredential(error=RuntimeError("DefaultAzureCredential failed to retrieve a token"))
    with pytest.raises(ConfigError, match="az login") as caught:
        complete(azure(server, credential))
    assert "DefaultAzureCredential failed" in str(caught.value)
    assert server.history == []


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (401, ["Cognitive Services OpenAI User", "AZURE_CLIENT_ID", "AZURE_OPENAI_ENDPOINT"]),
        (403, ["Cognitive Services OpenAI User", "AZURE_CLIENT_ID"]),
        (404, ["AZURE_OPENAI_DEPLOYMENT", "planner-dep"]),
    ],
)
def test_azure_refusals_name_the_role_or_setting(
    server: ChatServer, status: int, expected: list[str]
) -> None:
    server.enqueue(f"refused with {TOKEN}", status=status)
    with pytest.raises(ConfigError) as caught:
        complete(azure(server, FakeCredential()))
    for text in expected:
        assert text in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert len(server.history) == 1  # not retried


def test_azure_needs_https_except_on_loopback() -> None:
    with pytest.raises(ConfigError, match="https"):
        azure_chat_model(
            endpoint="http://acct.openai.azure.com/", deployment="d", token_provider=lambda: TOKEN
        )


# --- retries and failures ------------------------------------------------------------------------


def test_a_429_is_retried_after_retry_after(server: ChatServer) -> None:
    server.enqueue(status=429, headers={"Retry-After": "1"})
    server.enqueue(PLAN)
    reply = complete(compatible(server.url))
    assert '"echo"' in reply.content
    first, second = server.history
    assert 1.0 <= second.at - first.at < 3.0


def test_a_lasting_429_is_unavailable_with_the_servers_retry_after(server: ChatServer) -> None:
    # retry-after-ms keeps the test fast (the SDK prefers it); Retry-After is what callers are told.
    for _ in range(3):
        server.enqueue(status=429, headers={"Retry-After": "7", "retry-after-ms": "20"})
    with pytest.raises(PlannerUnavailableError) as caught:
        complete(compatible(server.url))
    assert caught.value.retry_after == 7
    assert len(server.history) == 3  # the first try and MAX_RETRIES retries


def test_a_5xx_is_retried(server: ChatServer) -> None:
    server.enqueue(status=503, headers={"retry-after-ms": "10"})
    server.enqueue(PLAN)
    assert complete(compatible(server.url)).content
    assert len(server.history) == 2


def test_an_unreachable_server_names_the_endpoint_setting() -> None:
    chat = compatible(f"http://127.0.0.1:{closed_port()}/v1", max_retries=0)
    with pytest.raises(PlannerUnavailableError, match="OPENAI_BASE_URL"):
        complete(chat)


def test_a_slow_model_times_out_once_and_is_not_retried(server: ChatServer) -> None:
    # A retry would queue behind the request the server is still generating.
    server.enqueue(PLAN, delay=3.0)
    server.enqueue(PLAN)
    with pytest.raises(PlannerUnavailableError) as caught:
        complete(compatible(server.url, timeout_s=0.5))
    message = str(caught.value)
    assert "PLANNER_TIMEOUT" in message and "0.5 s" in message and "1 attempt" in message
    assert "not repeated" in message
    assert len(server.history) == 1


def test_one_deadline_covers_the_retries(server: ChatServer) -> None:
    # Two 503s with a 0.4 s Retry-After each, then an answer that takes 1.2 s: within a 1.5 s
    # timeout of its own it would come, but only about 0.7 s of the one deadline is left for it.
    for _ in range(2):
        server.enqueue(status=503, headers={"retry-after-ms": "400"})
    server.enqueue(PLAN, delay=1.2)
    with pytest.raises(PlannerUnavailableError, match="3 attempts") as caught:
        complete(compatible(server.url, timeout_s=1.5))
    assert "within 1.5 s" in str(caught.value)
    assert len(server.history) == 3


def test_a_retry_after_past_the_deadline_is_not_waited_for(server: ChatServer) -> None:
    server.enqueue(status=429, headers={"Retry-After": "30"})
    with pytest.raises(PlannerUnavailableError, match="try again later") as caught:
        complete(compatible(server.url, timeout_s=2))
    assert caught.value.retry_after == 30 and len(server.history) == 1


def test_a_500_names_the_servers_message_and_never_says_try_again_later(server: ChatServer) -> None:
    for _ in range(3):
        server.enqueue("model file is corrupt", status=500, headers={"retry-after-ms": "10"})
    with pytest.raises(PlannerUnavailableError) as caught:
        complete(compatible(server.url))
    assert "model file is corrupt" in str(caught.value) and "server's log" in str(caught.value)
    assert "try again later" not in str(caught.value)


def test_keys_are_never_echoed_in_errors(server: ChatServer) -> None:
    key = "sk-local-secret-0123456789"
    server.enqueue(f"Incorrect API key provided: {key}", status=400)
    with pytest.raises(PlanningError) as caught:
        complete(compatible(server.url, api_key=key))
    assert key not in str(caught.value) and "***" in str(caught.value)
    assert server.history[0].headers["authorization"] == f"Bearer {key}"  # it was sent, as it should be
    server.enqueue(f"bad key {key}", status=401)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY") as refused:
        complete(compatible(server.url, api_key=key))
    assert key not in str(refused.value)


def test_json_schema_refused_falls_back_to_json_mode(server: ChatServer) -> None:
    chat = compatible(server.url)
    server.enqueue("response_format 'json_schema' is not supported by this model", status=400)
    server.enqueue(PLAN)
    server.enqueue(PLAN)
    assert complete(chat).content
    assert complete(chat).content  # later calls ask for JSON mode straight away
    formats = [sent.body["response_format"] for sent in server.history]
    assert formats[0]["type"] == "json_schema"
    # JSON mode carries the schema too: llama.cpp's servers turn it into a grammar.
    schema = RESPONSE_FORMAT["json_schema"]["schema"]
    assert formats[1:] == [{"type": "json_object", "schema": schema}] * 2


def test_model_errors_count_as_failed_plans(server: ChatServer) -> None:
    from toolweaver.catalog import load_catalog

    demo = load_catalog(DEMO_CATALOG)
    chat = compatible(server.url)
    server.enqueue(status=403)
    before = REGISTRY.get_sample_value("toolweaver_plans_total", {"outcome": "failed"}) or 0.0
    planner = Planner(chat, catalog=lambda: demo, find_tools=lambda r, k: [demo.get("echo")])
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        run_closing(chat, planner.plan("say hi"))
    assert REGISTRY.get_sample_value("toolweaver_plans_total", {"outcome": "failed"}) == before + 1


# --- choosing the adapter from settings ----------------------------------------------------------


def test_settings_pick_azure_first_then_a_compatible_server_then_none(server: ChatServer) -> None:
    built: list[str] = []

    def factory() -> FakeCredential:
        built.append("credential")
        return FakeCredential()

    both = Settings(
        azure_openai_endpoint="https://acct.openai.azure.com/",
        azure_openai_deployment="gpt-4o-mini-dep",
        openai_base_url=server.url,
        planner_timeout=45,
    )
    chat = chat_model_from_settings(both, token_provider=bearer_token_provider(factory, "scope"))
    assert isinstance(chat, OpenAIChatModel)
    assert chat.target.azure and chat.model == "gpt-4o-mini-dep" and chat.target.timeout_s == 45
    assert built == []  # the credential is built when the first token is needed, not before

    local = Settings(openai_base_url=server.url, openai_model="llama3", openai_api_key="k")
    chat = chat_model_from_settings(local, token_provider=bearer_token_provider(factory, "scope"))
    assert isinstance(chat, OpenAIChatModel)
    assert not chat.target.azure and chat.model == "llama3"
    assert "'k'" not in repr(local) and "openai_api_key" not in repr(local)

    assert chat_model_from_settings(Settings(), token_provider=bearer_token_provider(factory, "s")) is None


def test_settings_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "OPENAI_BASE_URL": "http://localhost:11434/v1",
            "OPENAI_MODEL": "qwen2.5",
            "PLANNER_TOP_K": "5",
            "PLANNER_FULL_CATALOG_MAX": "0",
            "PLAN_CACHE_TTL_SECONDS": "0",
            "PLANNER_TIMEOUT": "30",
            "PLANNER_SYNTHESIZE": "false",
        }
    )
    assert (settings.planner_top_k, settings.planner_full_catalog_max, settings.plan_cache_ttl) == (5, 0, 0)
    assert settings.planner_timeout == 30 and settings.planner_synthesize is False
    defaults = Settings()
    assert (defaults.planner_top_k, defaults.planner_full_catalog_max, defaults.plan_cache_ttl) == (
        8,
        12,
        3600,
    )
    assert defaults.planner_timeout == 60 and defaults.planner_synthesize is True
    assert defaults.openai_model == "gpt-4o-mini"


@pytest.mark.parametrize(
    ("settings", "setting"),
    [
        (Settings(azure_openai_endpoint="https://acct.openai.azure.com/"), "AZURE_OPENAI_DEPLOYMENT"),
        (
            Settings(azure_openai_endpoint="acct.openai.azure.com", azure_openai_deployment="d"),
            "AZURE_OPENAI_ENDPOINT",
        ),
        (Settings(openai_base_url="localhost:8080"), "OPENAI_BASE_URL"),
    ],
)
def test_incomplete_settings_name_what_to_fix(settings: Settings, setting: str) -> None:
    with pytest.raises(ConfigError, match=setting):
        chat_model_from_settings(settings, token_provider=lambda: TOKEN)


def test_the_planning_core_imports_no_azure_sdk() -> None:
    # The Entra ID token provider comes from the edge (toolweaver.identity): planning never loads
    # azure-identity, not even to build an Azure OpenAI model.
    code = (
        "import sys\n"
        "from toolweaver.planning import openai_chat, planner\n"
        "openai_chat.azure_chat_model(endpoint='https://acct.openai.azure.com/', deployment='d',"
        " token_provider=lambda: 't')\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] == 'azure'))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    # ...and no planning module names it, not even in a lazy import inside a function.
    package = Path(openai_chat.__file__).parent
    for source in package.glob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(encoding="utf-8"))):
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            assert not [name for name in names if name.split(".")[0] == "azure"], source.name
