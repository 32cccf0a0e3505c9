"""The http backend against a real OpenAPI-described service on loopback (no HTTP mocks)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.servers.loopback import closed_port
from tests.servers.openapi_service import API_KEY, DOCUMENT, Service, running_service
from toolweaver.catalog.model import Catalog, Tool
from toolweaver.catalog.openapi import import_openapi
from toolweaver.execution.backends.http import HttpBackend, aclose_shared_client, shared_client
from toolweaver.execution.executor import ToolExecutor
from toolweaver.execution.idempotency import idempotency_key
from toolweaver.execution.plan import validate_plan
from toolweaver.execution.plan_runner import PlanRunner
from toolweaver.execution.ports import ToolCallError
from toolweaver.execution.trust import ToolTrust

KEY_SETTING = "TEST_SERVICE_KEY"
SECRET = "test-service-key"  # noqa: S105 - the name of a declared secret, not a value
SCOPE = "api://test-service/.default"
AUTH = {
    "ApiKeyAuth": {"type": "secret", "secret": SECRET, "header": "X-Api-Key"},
    "Entra": {"type": "managed_identity", "scope": SCOPE},
}


def trust_of(catalog: Catalog, *, networks: str = "127.0.0.0/8", bound_to: str | None = None) -> ToolTrust:
    """What an operator would declare for the loopback service: its host, loopback, its secret."""
    host = urlsplit(catalog.get("plain_text").backend_config["server_url"]).netloc
    return ToolTrust.from_settings(
        allowed_hosts=host,
        private_networks=networks,
        secrets=json.dumps({SECRET: {"setting": KEY_SETTING, "hosts": [bound_to or host]}}),
        scopes=json.dumps({SCOPE: [host]}),
    )


class FakeToken:
    def __init__(self, token: str, expires_on: float) -> None:
        self.token = token
        self.expires_on = expires_on


class FakeCredential:
    """``get_token`` like azure-identity's credentials; counts requests."""

    def __init__(self, *, lifetime: float = 3600, asynchronous: bool = False) -> None:
        self.requests: list[str] = []
        self.lifetime = lifetime
        self.asynchronous = asynchronous

    def get_token(self, *scopes: str) -> Any:
        self.requests.append(scopes[0])
        token = FakeToken(f"token-{len(self.requests)}", time.time() + self.lifetime)
        if not self.asynchronous:
            return token

        async def later() -> FakeToken:
            return token

        return later()


class BrokenCredential:
    def get_token(self, *scopes: str) -> Any:
        raise RuntimeError("IMDS endpoint http://169.254.169.254 unreachable")


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    with running_service() as running:
        yield running


@pytest.fixture(scope="module")
def catalog(service: Service) -> Catalog:
    return Catalog(import_openapi(DOCUMENT, server_url=service.url, auth=AUTH))


def run(coro: Awaitable[Any]) -> Any:
    async def main() -> Any:
        try:
            return await coro
        finally:
            await aclose_shared_client()

    return asyncio.run(main())


def executor(catalog: Catalog, **kwargs: Any) -> ToolExecutor:
    environ = kwargs.pop("environ", {KEY_SETTING: API_KEY})
    credential = kwargs.pop("credential", FakeCredential())
    timeout_s = kwargs.pop("timeout_s", 5.0)
    trust = kwargs.pop("trust", trust_of(catalog))
    backend = HttpBackend(trust=trust, environ=environ, credential=credential, timeout_s=timeout_s, **kwargs)
    return ToolExecutor(catalog, {"http": backend}, timeout_s=timeout_s)


def failure(coro: Awaitable[Any]) -> ToolCallError:
    with pytest.raises(ToolCallError) as info:
        run(coro)
    return info.value


def test_path_parameters_are_encoded_and_headers_sent(catalog: Catalog, service: Service) -> None:
    result = run(executor(catalog).invoke("get_item", {"item_id": "a b/../c?d", "X-Trace": "t-1"}))
    assert result == {"id": "a b/../c?d", "trace": "t-1"}
    assert service.state.requests[-1]["path"] == "/items/a%20b%2F..%2Fc%3Fd"


@pytest.mark.parametrize("value", [pytest.param("..", id="dot-dot"), pytest.param(".", id="dot")])
def test_path_segments_that_would_move_the_path_are_refused(catalog: Catalog, value: str) -> None:
    error = failure(executor(catalog).invoke("get_item", {"item_id": value}))
    assert error.kind == "invalid_arguments"


def test_header_values_cannot_smuggle_lines(catalog: Catalog) -> None:
    error = failure(executor(catalog).invoke("get_item", {"item_id": "1", "X-Trace": "a\r\nX-Evil: 1"}))
    assert error.kind == "invalid_arguments"
    assert "line breaks" in str(error)


def test_query_lists_numbers_and_booleans(catalog: Catalog) -> None:
    result = run(
        executor(catalog).invoke(
            "search_items", {"q": "lamp", "tag": ["a", "b c"], "limit": 3, "exact": False}
        )
    )
    assert result == {"q": "lamp", "tags": ["a", "b c"], "limit": "3", "exact": "false"}


def test_json_body_and_idempotency_key(catalog: Catalog) -> None:
    async def call() -> Any:
        with idempotency_key("plan-1:order"):
            return await executor(catalog).invoke("create_order", {"body": {"sku": "A-1", "qty": 2}})

    assert run(call()) == {"order": {"sku": "A-1", "qty": 2}, "idempotency_key": "plan-1:order"}


def test_no_idempotency_key_outside_a_plan(catalog: Catalog) -> None:
    assert (
        run(executor(catalog).invoke("create_order", {"body": {"sku": "A", "qty": 1}}))["idempotency_key"]
        is None
    )


def test_a_declared_secret_reaches_its_host(catalog: Catalog, service: Service) -> None:
    assert catalog.get("read_secret").backend_config["auth"]["secret"] == SECRET
    assert run(executor(catalog).invoke("read_secret", {})) == {"secret": 42}
    path, headers = service.state.seen[-1]
    assert (path, headers["X-Api-Key"]) == ("/secret", API_KEY)


def test_a_secret_bound_to_another_host_is_never_sent(catalog: Catalog, service: Service) -> None:
    before = len(service.state.seen)
    runner = executor(catalog, trust=trust_of(catalog, bound_to="api.crm.example"))
    error = failure(runner.invoke("read_secret", {}))
    assert error.kind == "forbidden"
    assert "may only be sent to api.crm.example" in str(error)
    assert len(service.state.seen) == before  # refused before any connection


def test_an_undeclared_secret_is_refused_at_call_time(catalog: Catalog, service: Service) -> None:
    before = len(service.state.seen)
    host = urlsplit(service.url).netloc
    trust = ToolTrust.from_settings(allowed_hosts=host, private_networks="127.0.0.0/8")
    error = failure(executor(catalog, trust=trust).invoke("read_secret", {}))
    assert "'test-service-key' is not declared in TOOL_SECRETS; declared: none" in str(error)
    assert len(service.state.seen) == before


@pytest.mark.parametrize(
    ("hosts", "networks", "problem"),
    [
        pytest.param("", "127.0.0.0/8", "host not allowed: 127.0.0.1", id="host-not-listed"),
        pytest.param(None, "", "address not allowed: 127.0.0.1 is loopback", id="loopback-not-opened"),
        pytest.param(None, "10.0.0.0/8", "address not allowed: 127.0.0.1 is loopback", id="other-network"),
        pytest.param("localhost:{port}", "", "address not allowed", id="name-resolving-to-loopback"),
    ],
)
def test_egress_is_decided_before_any_byte_is_sent(
    catalog: Catalog, service: Service, hosts: str | None, networks: str, problem: str
) -> None:
    port = urlsplit(service.url).port
    url = service.url if hosts is None or "localhost" not in hosts else f"http://localhost:{port}"
    tools = import_openapi(DOCUMENT, server_url=url)
    allowed = urlsplit(service.url).netloc if hosts is None else hosts.format(port=port)
    trust = ToolTrust.from_settings(allowed_hosts=allowed, private_networks=networks)
    before = len(service.state.seen)
    runner = ToolExecutor(Catalog(tools), {"http": HttpBackend(trust=trust)})
    error = failure(runner.invoke("plain_text", {}))
    assert error.kind == "forbidden"
    assert problem in str(error)
    assert len(service.state.seen) == before


def test_a_name_resolving_to_an_allowed_network_connects(service: Service) -> None:
    port = urlsplit(service.url).port
    tools = import_openapi(DOCUMENT, server_url=f"http://localhost:{port}")
    trust = ToolTrust.from_settings(allowed_hosts=f"localhost:{port}", private_networks="127.0.0.0/8,::1/128")
    runner = ToolExecutor(Catalog(tools), {"http": HttpBackend(trust=trust)})
    assert run(runner.invoke("plain_text", {})) == "hello, plain world"


def test_a_rejected_key_is_never_repeated_in_the_error(catalog: Catalog) -> None:
    wrong = "wrong-but-private-key-value"
    error = failure(executor(catalog, environ={KEY_SETTING: wrong}).invoke("read_secret", {}))
    assert (error.kind, error.retryable) == ("backend", False)
    assert "HTTP 401 Unauthorized from GET /secret" in str(error)
    assert "bad key '***'" in str(error)  # the service echoed it; we blanked it
    assert wrong not in str(error)


def test_a_declared_secret_without_a_value_names_its_setting(catalog: Catalog) -> None:
    error = failure(executor(catalog, environ={}).invoke("read_secret", {}))
    assert f"the declared secret {SECRET!r} has no value: set the app setting {KEY_SETTING}" in str(error)


@pytest.mark.parametrize("asynchronous", [pytest.param(False, id="sync"), pytest.param(True, id="async")])
def test_managed_identity_bearer_token_is_cached(catalog: Catalog, asynchronous: bool) -> None:
    credential = FakeCredential(asynchronous=asynchronous)
    runner = executor(catalog, credential=credential)

    async def twice() -> list[Any]:
        return [await runner.invoke("who_am_i", {}), await runner.invoke("who_am_i", {})]

    assert run(twice()) == [{"token": "token-1"}, {"token": "token-1"}]
    assert credential.requests == [SCOPE]


def test_a_token_about_to_expire_is_renewed(catalog: Catalog) -> None:
    credential = FakeCredential(lifetime=60)  # inside the refresh margin
    runner = executor(catalog, credential=credential)

    async def twice() -> list[Any]:
        return [await runner.invoke("who_am_i", {}), await runner.invoke("who_am_i", {})]

    assert run(twice()) == [{"token": "token-1"}, {"token": "token-2"}]


def test_credential_factory_is_called_once_when_first_needed(catalog: Catalog) -> None:
    made: list[FakeCredential] = []

    def factory() -> FakeCredential:
        made.append(FakeCredential())
        return made[-1]

    backend = HttpBackend(trust=trust_of(catalog), credential_factory=factory)
    runner = ToolExecutor(catalog, {"http": backend})
    run(runner.invoke("get_item", {"item_id": "1"}))
    assert made == []
    run(runner.invoke("who_am_i", {}))
    run(runner.invoke("who_am_i", {}))
    assert len(made) == 1


@pytest.mark.parametrize(
    ("credential", "message", "retryable"),
    [
        pytest.param(None, "needs a credential, and this app was started without one", False, id="none"),
        pytest.param(
            BrokenCredential(), "could not get a token for api://test-service/.default", True, id="broken"
        ),
    ],
)
def test_token_problems(catalog: Catalog, credential: Any, message: str, retryable: bool) -> None:
    runner = ToolExecutor(catalog, {"http": HttpBackend(trust=trust_of(catalog), credential=credential)})
    error = failure(runner.invoke("who_am_i", {}))
    assert message in str(error)
    assert error.retryable is retryable
    assert "169.254" not in str(error)


def test_not_found_is_final_with_a_body_excerpt(catalog: Catalog) -> None:
    error = failure(executor(catalog).invoke("get_item", {"item_id": "missing"}))
    assert (error.kind, error.retryable) == ("backend", False)
    assert (
        str(error)
        == 'tool \'get_item\': HTTP 404 Not Found from GET /items/missing: {"error": "no item missing"}'
    )


def test_503_is_retryable_and_carries_retry_after(catalog: Catalog) -> None:
    async def call() -> Any:
        with idempotency_key("single-call"):
            return await executor(catalog).invoke("flaky", {})

    error = failure(call())
    assert (error.retryable, getattr(error, "retry_after", None)) == (True, 1.0)


def test_the_plan_runner_retries_503_after_retry_after_with_one_key(
    catalog: Catalog, service: Service
) -> None:
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    plan = validate_plan({"id": "plan-flaky", "steps": [{"id": "s", "tool": "flaky"}]}, catalog)
    outcome = run(PlanRunner(executor(catalog), sleep=sleep, retries=2).run(plan))
    assert outcome.status == "succeeded", outcome.error
    assert outcome.outputs["s"] == {"attempts": 3, "key": "plan-flaky:s"}
    assert delays == [1.0, 1.0]
    assert service.state.flaky_calls["plan-flaky:s"] == 3
    assert [call.ok for call in outcome.tool_calls] == [False, False, True]


def test_slow_responses_time_out_as_retryable(catalog: Catalog) -> None:
    error = failure(executor(catalog, timeout_s=0.3).invoke("slow", {"seconds": 3}))  # else: an answer
    assert (error.kind, error.retryable) == ("timeout", True)


def test_a_huge_response_is_cut_off_while_streaming(catalog: Catalog, service: Service) -> None:
    error = failure(executor(catalog, max_response_bytes=200_000).invoke("huge", {"megabytes": 200}))
    assert error.kind == "limit"
    assert "larger than 200000 bytes" in str(error)
    assert not service.state.huge_finished
    assert service.state.huge_bytes_sent < 200 * 1024 * 1024


def test_plain_text_responses(catalog: Catalog) -> None:
    assert run(executor(catalog).invoke("plain_text", {})) == "hello, plain world"


def test_redirects_are_not_followed(catalog: Catalog) -> None:
    error = failure(executor(catalog).invoke("moved", {}))
    assert "HTTP 302" in str(error)
    assert "redirect to /text" in str(error)
    assert not error.retryable


def test_an_unreachable_service_is_retryable(catalog: Catalog) -> None:
    port = closed_port()
    tools = import_openapi(DOCUMENT, server_url=f"http://127.0.0.1:{port}")
    trust = ToolTrust.from_settings(allowed_hosts=f"127.0.0.1:{port}", private_networks="127.0.0.1/32")
    runner = ToolExecutor(Catalog(tools), {"http": HttpBackend(trust=trust)})
    error = failure(runner.invoke("plain_text", {}))
    assert error.retryable
    assert "ConnectError" in str(error)


def test_a_tool_without_a_server_is_explained(catalog: Catalog) -> None:
    base = catalog.get("plain_text")
    config = {**base.backend_config, "server_url": None}
    tool = Tool(name="odd", description="d", backend="http", backend_config=config)
    error = failure(ToolExecutor(Catalog([tool]), {"http": HttpBackend()}).invoke("odd", {}))
    assert "needs an absolute http(s) URL" in str(error)


def test_hand_written_body_fields_and_forms(service: Service) -> None:
    tool = Tool(
        name="order_fields",
        description="Fields of a JSON body named one by one, as the demo catalog does.",
        parameters={"type": "object", "properties": {"sku": {"type": "string"}, "qty": {"type": "integer"}}},
        backend="http",
        backend_config={
            "method": "POST",
            "path": "/orders",
            "server_url": service.url + "/",
            "parameters": {"sku": "body", "qty": "body"},
        },
    )
    backend = HttpBackend(trust=trust_of(Catalog(import_openapi(DOCUMENT, server_url=service.url))))
    result = run(
        ToolExecutor(Catalog([tool]), {"http": backend}).invoke("order_fields", {"sku": "Z", "qty": 5})
    )
    assert result["order"] == {"sku": "Z", "qty": 5}


def test_one_pooled_client_per_event_loop() -> None:
    async def twice() -> bool:
        same = shared_client() is shared_client()
        await aclose_shared_client()
        return same and shared_client() is not None

    assert run(twice())
