"""ToolExecutor: lookup, argument validation, timeouts, size caps, concurrency, records, metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from toolweaver.catalog.model import Catalog, Tool
from toolweaver.execution.executor import ToolExecutor, ToolSession
from toolweaver.execution.ports import ToolCallError
from toolweaver.observability.metrics import REGISTRY
from toolweaver.settings import Settings

PRIVATE_VALUE = "hunter2-very-secret"

ORDER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "customer": {"type": "string"},
        "password": {"type": "string", "minLength": 30},
        "mode": {"type": "string", "enum": ["fast", "cheap"]},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"sku": {"type": "string"}, "qty": {"type": "integer", "minimum": 1}},
                "required": ["sku", "qty"],
            },
        },
        "when": {"type": "string", "format": "date"},
    },
    "required": ["customer"],
    "additionalProperties": False,
}


class FakeBackend:
    """Runs ``handler(arguments)`` for every call and keeps what it saw."""

    def __init__(self, handler: Callable[[dict[str, Any]], Awaitable[Any]] | None = None) -> None:
        self.handler = handler
        self.seen: list[dict[str, Any]] = []
        self.active = 0
        self.peak = 0

    async def call(self, tool: Tool, arguments: dict[str, Any]) -> Any:
        self.seen.append(arguments)
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            if self.handler is not None:
                return await self.handler(arguments)
            return {"tool": tool.name, "arguments": arguments}
        finally:
            self.active -= 1


def tool(name: str = "order", parameters: dict[str, Any] | None = None, backend: str = "python") -> Tool:
    return Tool(
        name=name, description=f"{name} things", parameters=parameters or ORDER_SCHEMA, backend=backend
    )  # type: ignore[arg-type]


def executor(backend: FakeBackend | None = None, **kwargs: Any) -> ToolExecutor:
    catalog = Catalog([tool(), tool("other", {"type": "object", "properties": {}}, backend="http")])
    return ToolExecutor(catalog, {"python": backend or FakeBackend()}, **kwargs)


def run(coro: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await coro

    return asyncio.run(main())


def failure(coro: Awaitable[Any]) -> ToolCallError:
    with pytest.raises(ToolCallError) as info:
        run(coro)
    return info.value


def test_valid_call_reaches_the_backend_and_returns_its_result() -> None:
    backend = FakeBackend()
    result = run(executor(backend).invoke("order", {"customer": "ada"}))
    assert result == {"tool": "order", "arguments": {"customer": "ada"}}
    assert backend.seen == [{"customer": "ada"}]


def test_unknown_tool_is_not_found_with_suggestions() -> None:
    error = failure(executor().invoke("ordr", {}))
    assert (error.kind, error.retryable, error.tool) == ("not_found", False, "ordr")
    assert "'order'" in str(error)


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        pytest.param({}, "$: 'customer' is a required property", id="missing-required"),
        pytest.param({"customer": 7}, '$.customer: must be of type "string"', id="wrong-type"),
        pytest.param(
            {"customer": "a", "mode": "slow"}, '$.mode: must be one of ["fast", "cheap"]', id="enum"
        ),
        pytest.param(
            {"customer": "a", "extra": 1}, "Additional properties are not allowed ('extra'", id="unknown-key"
        ),
        pytest.param(
            {"customer": "a", "items": [{"sku": "x", "qty": 1}, {"sku": "y", "qty": 0}]},
            "$.items[1].qty: fails minimum = 1",
            id="nested-path",
        ),
        pytest.param(
            {"customer": "a", "items": [{"sku": "x"}]},
            "$.items[0]: 'qty' is a required property",
            id="nested-required",
        ),
        pytest.param(
            {"customer": "a", "when": "31/12/2024"}, "$.when: must be a valid date", id="format-date"
        ),
    ],
)
def test_invalid_arguments_name_the_path(arguments: dict[str, Any], expected: str) -> None:
    backend = FakeBackend()
    error = failure(executor(backend).invoke("order", arguments))
    assert error.kind == "invalid_arguments"
    assert not error.retryable
    assert expected in str(error)
    assert backend.seen == []  # never reaches the backend


@pytest.mark.parametrize(
    "arguments",
    [
        pytest.param({"customer": "a", "password": PRIVATE_VALUE}, id="too-short"),
        pytest.param({"customer": PRIVATE_VALUE.split("-")}, id="wrong-type"),
        pytest.param({"customer": "a", "mode": PRIVATE_VALUE}, id="not-in-enum"),
        pytest.param({"customer": "a", "when": PRIVATE_VALUE}, id="bad-format"),
    ],
)
def test_invalid_argument_values_are_never_echoed(arguments: dict[str, Any]) -> None:
    error = failure(executor().invoke("order", arguments))
    assert error.kind == "invalid_arguments"
    assert "hunter2" not in str(error)


def test_many_problems_are_summarised() -> None:
    error = failure(executor().invoke("order", {"customer": 1, "mode": 2, "password": 3, "when": 4, "x": 5}))
    assert "; and 3 more" in str(error)  # mode fails both type and enum


def test_arguments_must_be_an_object() -> None:
    error = failure(executor().invoke("order", ["not", "an", "object"]))  # type: ignore[arg-type]
    assert error.kind == "invalid_arguments"
    assert "must be a JSON object, got list" in str(error)


def test_a_tool_with_an_invalid_schema_fails_clearly() -> None:
    broken = Tool(
        name="broken", description="d", parameters={"type": "object", "properties": {"a": {"type": "text"}}}
    )
    run_executor = ToolExecutor(Catalog([broken]), {"none": FakeBackend()})
    error = failure(run_executor.invoke("broken", {"a": "x"}))
    assert "parameters schema is not valid JSON Schema" in str(error)


def test_tool_without_a_configured_backend() -> None:
    error = failure(executor().invoke("other", {}))
    assert error.kind == "backend"
    assert "backend 'http' cannot run tools here (configured backends: python)" in str(error)


def test_timeout_is_retryable() -> None:
    async def slow(arguments: dict[str, Any]) -> Any:
        await asyncio.sleep(5)

    error = failure(executor(FakeBackend(slow), timeout_s=0.05).invoke("order", {"customer": "a"}))
    assert (error.kind, error.retryable) == ("timeout", True)
    assert "no result within 0.05 s" in str(error)


def test_response_over_the_size_cap_is_a_limit_error() -> None:
    async def big(arguments: dict[str, Any]) -> Any:
        return {"data": "x" * 2000}

    error = failure(executor(FakeBackend(big), max_response_bytes=1000).invoke("order", {"customer": "a"}))
    assert error.kind == "limit"
    assert "over the limit of 1000" in str(error)


def test_response_under_the_cap_passes() -> None:
    async def small(arguments: dict[str, Any]) -> Any:
        return {"data": "x" * 900}

    assert run(executor(FakeBackend(small), max_response_bytes=1000).invoke("order", {"customer": "a"}))


@pytest.mark.parametrize(
    "value",
    [
        pytest.param({1, 2}, id="set"),
        pytest.param(float("nan"), id="nan"),
        pytest.param(object(), id="object"),
    ],
)
def test_non_json_results_are_backend_errors(value: Any) -> None:
    async def weird(arguments: dict[str, Any]) -> Any:
        return value

    error = failure(executor(FakeBackend(weird)).invoke("order", {"customer": "a"}))
    assert error.kind == "backend"
    assert "not JSON" in str(error)


def test_unexpected_backend_exceptions_name_only_their_type() -> None:
    async def broken(arguments: dict[str, Any]) -> Any:
        raise RuntimeError(f"connection string {PRIVATE_VALUE}")

    error = failure(executor(FakeBackend(broken)).invoke("order", {"customer": "a"}))
    assert error.kind == "backend"
    assert "RuntimeError" in str(error)
    assert PRIVATE_VALUE not in str(error)


def test_backend_tool_call_errors_pass_through() -> None:
    async def refuses(arguments: dict[str, Any]) -> Any:
        raise ToolCallError("order", "rate limited", retryable=True, kind="backend")

    error = failure(executor(FakeBackend(refuses)).invoke("order", {"customer": "a"}))
    assert (str(error), error.retryable) == ("tool 'order': rate limited", True)


def test_backends_get_a_copy_of_the_arguments() -> None:
    async def mutates(arguments: dict[str, Any]) -> Any:
        arguments["customer"] = "changed"
        return None

    arguments = {"customer": "ada"}
    run(executor(FakeBackend(mutates)).invoke("order", arguments))
    assert arguments == {"customer": "ada"}


@pytest.mark.parametrize("limit", [pytest.param(1, id="one"), pytest.param(3, id="three")])
def test_concurrency_is_limited(limit: int) -> None:
    async def pause(arguments: dict[str, Any]) -> Any:
        await asyncio.sleep(0.02)

    backend = FakeBackend(pause)
    runner = executor(backend, max_concurrent=limit)

    async def many() -> None:
        await asyncio.gather(*(runner.invoke("order", {"customer": str(i)}) for i in range(8)))

    run(many())
    assert backend.peak == limit


def test_the_executor_works_across_event_loops() -> None:
    async def pause(arguments: dict[str, Any]) -> Any:
        await asyncio.sleep(0.001)

    runner = executor(FakeBackend(pause), max_concurrent=1)
    for _ in range(2):  # a semaphore bound to the first loop would fail on the second

        async def pair() -> None:
            await asyncio.gather(
                runner.invoke("order", {"customer": "a"}), runner.invoke("order", {"customer": "b"})
            )

        run(pair())


def test_catalog_may_be_a_function_returning_the_current_one() -> None:
    current = {"catalog": Catalog([tool("first")])}
    runner = ToolExecutor(lambda: current["catalog"], {"python": FakeBackend()})
    assert run(runner.invoke("first", {"customer": "a"}))["tool"] == "first"
    current["catalog"] = Catalog([tool("second")])
    assert failure(runner.invoke("first", {"customer": "a"})).kind == "not_found"
    assert run(runner.invoke("second", {"customer": "a"}))["tool"] == "second"


def test_sessions_keep_their_own_records() -> None:
    async def maybe_fail(arguments: dict[str, Any]) -> Any:
        await asyncio.sleep(0.001)
        if arguments["customer"] == "bad":
            raise ToolCallError("order", "refused", kind="backend")
        return "ok"

    runner = executor(FakeBackend(maybe_fail))
    first, second = runner.session(), runner.session()

    async def interleaved() -> None:
        calls = [first.invoke("order", {"customer": "a"}), second.invoke("order", {"customer": "bad"})]
        calls.append(first.invoke("order", {"customer": "b"}))
        await asyncio.gather(*calls, return_exceptions=True)

    run(interleaved())
    assert [(c.tool, c.arguments, c.ok) for c in first.calls] == [
        ("order", {"customer": "a"}, True),
        ("order", {"customer": "b"}, True),
    ]
    assert [(c.ok, c.error) for c in second.calls] == [(False, "tool 'order': refused")]
    assert all(call.duration_ms >= 0 for call in first.calls)


def test_session_records_its_own_copy_of_the_arguments() -> None:
    session = ToolSession(executor())
    arguments: dict[str, Any] = {"customer": "a"}
    run(session.invoke("order", arguments))
    arguments["customer"] = "changed later"
    assert session.calls[0].arguments == {"customer": "a"}


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_calls_are_counted_by_outcome_and_timed_by_backend() -> None:
    async def slow(arguments: dict[str, Any]) -> Any:
        if arguments["customer"] == "slow":
            await asyncio.sleep(1)
        return 1

    labels = {"tool": "order", "backend": "python"}
    ok_before = sample("toolweaver_tool_calls_total", {**labels, "outcome": "ok"})
    timeout_before = sample("toolweaver_tool_calls_total", {**labels, "outcome": "timeout"})
    invalid_before = sample("toolweaver_tool_calls_total", {**labels, "outcome": "invalid_arguments"})
    timed_before = sample("toolweaver_tool_call_seconds_count", {"backend": "python"})
    runner = executor(FakeBackend(slow), timeout_s=0.02)
    run(runner.invoke("order", {"customer": "a"}))
    failure(runner.invoke("order", {"customer": "slow"}))
    failure(runner.invoke("order", {}))  # rejected before any backend work: not timed
    assert sample("toolweaver_tool_calls_total", {**labels, "outcome": "ok"}) == ok_before + 1
    assert sample("toolweaver_tool_calls_total", {**labels, "outcome": "timeout"}) == timeout_before + 1
    assert sample("toolweaver_tool_calls_total", {**labels, "outcome": "invalid_arguments"}) == invalid_before
    assert sample("toolweaver_tool_call_seconds_count", {"backend": "python"}) == timed_before + 2


def test_unknown_tool_names_do_not_become_metric_labels() -> None:
    before = sample(
        "toolweaver_tool_calls_total", {"tool": "(unknown)", "backend": "none", "outcome": "not_found"}
    )
    failure(executor().invoke("made-up-name-123", {}))
    assert (
        sample(
            "toolweaver_tool_calls_total",
            {"tool": "made-up-name-123", "backend": "none", "outcome": "not_found"},
        )
        == 0
    )
    assert (
        sample(
            "toolweaver_tool_calls_total", {"tool": "(unknown)", "backend": "none", "outcome": "not_found"}
        )
        == before + 1
    )


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        pytest.param({}, (8, 30, 1024 * 1024), id="defaults"),
        pytest.param(
            {"MAX_CONCURRENT_TOOLS": "3", "TOOL_TIMEOUT": "5", "MAX_TOOL_RESPONSE_BYTES": "2048"},
            (3, 5, 2048),
            id="from-environment",
        ),
    ],
)
def test_from_settings(environ: dict[str, str], expected: tuple[int, int, int]) -> None:
    runner = ToolExecutor.from_settings(Catalog(), {}, Settings.from_env(environ))
    assert (runner.max_concurrent, runner.timeout_s, runner.max_response_bytes) == expected


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("MAX_CONCURRENT_TOOLS", "0", id="no-concurrency"),
        pytest.param("TOOL_TIMEOUT", "601", id="timeout-too-long"),
        pytest.param("MAX_TOOL_RESPONSE_BYTES", "10", id="cap-too-small"),
    ],
)
def test_settings_reject_unusable_values(name: str, value: str) -> None:
    from toolweaver.errors import ConfigError

    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_executor_rejects_unusable_limits() -> None:
    with pytest.raises(ValueError, match="must be positive"):
        ToolExecutor(Catalog(), {}, max_concurrent=0)


def test_default_backends_run_the_demo_tools_and_build_http_on_first_use() -> None:
    from toolweaver.execution.backends.defaults import LazyBackend, default_backends
    from toolweaver.execution.demo_tools import DEMO_TOOLS

    backends = default_backends(Settings.from_env({"TOOL_TIMEOUT": "7"}), environ={})
    assert sorted(backends) == ["http", "mcp", "python"]
    runner = ToolExecutor(DEMO_TOOLS.catalog(), backends)
    assert run(runner.invoke("echo", {"text": "hi"})) == {"text": "hi"}
    http = backends["http"]
    assert isinstance(http, LazyBackend)
    assert http._backend is None
    broken = Tool(name="h", description="d", backend="http", backend_config={"server_url": None})
    with pytest.raises(ToolCallError, match="absolute http"):
        run(http.call(broken, {}))
    assert http._backend is not None
    assert http._backend.max_response_bytes == 1024 * 1024  # type: ignore[attr-defined]


def test_building_the_executor_loads_no_http_or_mcp_client() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from toolweaver.catalog.model import Catalog\n"
        "from toolweaver.execution.backends.defaults import default_backends\n"
        "from toolweaver.execution.executor import ToolExecutor\n"
        "from toolweaver.settings import Settings\n"
        "s = Settings()\n"
        "ToolExecutor.from_settings(Catalog(), default_backends(s), s)\n"
        "print(sorted(m for m in ('httpx', 'mcp', 'httpx2') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
