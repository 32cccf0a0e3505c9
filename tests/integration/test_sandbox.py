"""LocalSandboxRunner with real child processes: results, output, tools, limits, cleanup."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from toolweaver.execution.ports import RunLimits, RunOutcome, ToolCallError
from toolweaver.execution.sandbox import LocalSandboxRunner

LIMITS = RunLimits(timeout_s=5.0)
TOOLS = ["echo", "slow", "fail", "flaky", "bad_value", "get-weather"]


class FakeTools:
    """A ToolInvoker: ``echo`` returns its arguments, ``slow`` sleeps, the rest fail in ways."""

    def __init__(self, *, delay: float = 0.0) -> None:
        self.delay = delay
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def invoke(self, name: str, arguments: dict[str, Any]) -> Any:
        self.calls.append((name, arguments))
        if name == "fail":
            raise ToolCallError(name, "backend said no", kind="backend", retryable=True)
        if name == "bad_value":
            return {1, 2}  # not JSON
        if name == "slow":
            await asyncio.sleep(float(arguments.get("seconds", 30)))
        elif self.delay:
            await asyncio.sleep(self.delay)
        return {"tool": name, "args": arguments}


@pytest.fixture(scope="module")
def runner() -> Iterator[LocalSandboxRunner]:
    with LocalSandboxRunner() as sandbox:
        yield sandbox


def run(
    sandbox: LocalSandboxRunner, code: str, tools: FakeTools | None = None, limits: RunLimits = LIMITS
) -> RunOutcome:
    return asyncio.run(sandbox.run(code, tools=tools or FakeTools(), tool_names=TOOLS, limits=limits))


def test_a_trivial_program_succeeds_with_its_result(runner: LocalSandboxRunner) -> None:
    outcome = run(runner, "result = {'sum': 1 + 2, 'items': [1, 'two', None, True, 2.5]}")
    assert outcome.status == "succeeded", outcome.error
    assert outcome.result == {"sum": 3, "items": [1, "two", None, True, 2.5]}
    assert outcome.error is None and outcome.stdout == "" and outcome.tool_calls == ()
    assert outcome.duration_ms > 0


def test_without_result_the_result_is_none(runner: LocalSandboxRunner) -> None:
    outcome = run(runner, "x = 1")
    assert (outcome.status, outcome.result) == ("succeeded", None)


def test_the_body_runs_with_top_level_await_and_its_own_functions(runner: LocalSandboxRunner) -> None:
    code = (
        "import asyncio, math, statistics, datetime, decimal, fractions, random, string, re\n"
        "def fact(n):\n    return 1 if n < 2 else n * fact(n - 1)\n"
        "async def twice(x):\n    await asyncio.sleep(0)\n    return 2 * x\n"
        "result = [fact(5), await twice(21), statistics.mean([1, 2, 3]), math.isqrt(17),\n"
        "          str(decimal.Decimal(1) / 4), str(fractions.Fraction(1, 3) * 3),\n"
        "          datetime.datetime.strptime('2024-02-03', '%Y-%m-%d').day,\n"
        "          len(re.findall(r'\\d', 'a1b2')), string.ascii_lowercase[:3], 0 <= random.random() < 1]"
    )
    outcome = run(runner, code)
    assert outcome.status == "succeeded", outcome.error
    assert outcome.result == [120, 42, 2, 4, "0.25", "1", 3, 2, "abc", True]


def test_stdout_is_captured(runner: LocalSandboxRunner) -> None:
    outcome = run(runner, "print('hello')\nprint('world', 42)")
    assert outcome.status == "succeeded", outcome.error
    assert outcome.stdout == "hello\nworld 42\n"


def test_stdout_is_capped_at_max_output_bytes(runner: LocalSandboxRunner) -> None:
    limits = RunLimits(timeout_s=5.0, max_output_bytes=4096)
    outcome = run(runner, "for i in range(10_000):\n    print('line', i)\nresult = 'done'", limits=limits)
    assert outcome.status == "succeeded", outcome.error
    assert outcome.result == "done"
    assert outcome.stdout.startswith("line 0\nline 1\n")
    assert outcome.stdout.endswith("[output cut at 4096 bytes]\n")
    assert len(outcome.stdout.encode()) <= 4096 + 64


def test_a_result_near_the_limit_arrives_whole(runner: LocalSandboxRunner) -> None:
    outcome = run(runner, "result = {'rows': [{'i': i, 'text': 'x' * 90} for i in range(2000)]}")
    assert outcome.status == "succeeded", outcome.error
    assert len(outcome.result["rows"]) == 2000 and outcome.result["rows"][-1]["i"] == 1999


def test_results_must_be_shallow_and_valid_unicode(runner: LocalSandboxRunner) -> None:
    outcome = run(runner, "r = 1\nfor _ in range(100):\n    r = [r]\nresult = r")
    assert outcome.status == "error" and "nested deeper than 64 levels" in (outcome.error or "")
    outcome = run(runner, "print('a\\ud800b')\nresult = 'ok'")
    assert (outcome.status, outcome.stdout) == ("succeeded", "a?b\n")
    outcome = run(runner, "result = 'a\\ud800'")
    assert outcome.status == "error" and "surrogate" in (outcome.error or "")


def test_a_large_result_is_refused(runner: LocalSandboxRunner) -> None:
    limits = RunLimits(timeout_s=5.0, max_output_bytes=4096)
    outcome = run(runner, "result = 'x' * 5000", limits=limits)
    assert outcome.status == "error"
    assert "over the limit of 4096" in (outcome.error or "")


class Rendezvous(FakeTools):
    """Each call waits until ``expected`` calls are in flight at once; fails if they never are."""

    def __init__(self, expected: int) -> None:
        super().__init__()
        self.expected = expected
        self.in_flight = 0
        self.most_at_once = 0
        self.all_here = asyncio.Event()

    async def invoke(self, name: str, arguments: dict[str, Any]) -> Any:
        self.in_flight += 1
        self.most_at_once = max(self.most_at_once, self.in_flight)
        if self.in_flight == self.expected:
            self.all_here.set()
        try:
            await asyncio.wait_for(self.all_here.wait(), timeout=4.0)  # served one by one: never set
        except TimeoutError:
            raise ToolCallError(name, "the calls were not in flight at the same time") from None
        finally:
            self.in_flight -= 1
        return await super().invoke(name, arguments)


def test_three_tool_calls_run_concurrently_with_gather(runner: LocalSandboxRunner) -> None:
    tools = Rendezvous(3)
    code = "import asyncio\nresult = await asyncio.gather(echo(text='a'), echo(text='b'), echo(text='c'))"
    outcome = run(runner, code, tools)
    assert outcome.status == "succeeded", outcome.error
    assert outcome.result == [{"tool": "echo", "args": {"text": t}} for t in "abc"]
    assert tools.most_at_once == 3  # all three were served at the same time
    assert [(c.tool, c.arguments, c.ok) for c in outcome.tool_calls] == [
        ("echo", {"text": t}, True) for t in "abc"
    ]


def test_max_tool_calls_is_enforced(runner: LocalSandboxRunner) -> None:
    tools = FakeTools()
    code = (
        "await echo(n=1)\nawait echo(n=2)\n"
        "try:\n    await echo(n=3)\nexcept ToolError as e:\n    result = [e.kind, str(e)]"
    )
    outcome = run(runner, code, tools, RunLimits(timeout_s=5.0, max_tool_calls=2))
    assert outcome.status == "succeeded", outcome.error
    assert outcome.result[0] == "limit" and "max_tool_calls (2)" in outcome.result[1]
    assert [c.arguments for c in outcome.tool_calls] == [{"n": 1}, {"n": 2}]
    assert len(tools.calls) == 2  # the third never reached the invoker


def test_a_tool_error_is_an_exception_the_program_can_catch(runner: LocalSandboxRunner) -> None:
    code = (
        "try:\n    await fail(x=1)\nexcept ToolError as e:\n"
        "    result = {'tool': e.tool, 'kind': e.kind, 'retryable': e.retryable, 'message': str(e)}"
    )
    outcome = run(runner, code)
    assert outcome.status == "succeeded", outcome.error
    assert outcome.result == {
        "tool": "fail",
        "kind": "backend",
        "retryable": True,
        "message": "tool 'fail': backend said no",
    }
    (call,) = outcome.tool_calls
    assert (call.tool, call.ok, call.error) == ("fail", False, "tool 'fail': backend said no")


def test_an_uncaught_tool_error_ends_the_run_with_error(runner: LocalSandboxRunner) -> None:
    outcome = run(runner, "x = 1\nawait fail()")
    assert outcome.status == "error"
    assert outcome.error == "ToolError: tool 'fail': backend said no (line 2)"


def test_tools_take_keyword_arguments_and_json_values_only(runner: LocalSandboxRunner) -> None:
    outcome = run(runner, "await echo('positional')")
    assert outcome.status == "error" and "keyword arguments only" in (outcome.error or "")
    outcome = run(runner, "await echo(value={1, 2})")
    assert outcome.status == "error" and (outcome.error or "").startswith("TypeError")
    outcome = run(runner, "try:\n    await bad_value()\nexcept ToolError as e:\n    result = str(e)")
    assert outcome.status == "succeeded" and "not JSON" in outcome.result


def test_call_tool_reaches_tools_whose_names_are_not_identifiers(runner: LocalSandboxRunner) -> None:
    code = (
        "a = await call_tool('get-weather', city='Oslo')\n"
        "try:\n    await call_tool('nope')\nexcept ToolError as e:\n    b = e.kind\n"
        "result = [a, b]"
    )
    outcome = run(runner, code)
    assert outcome.status == "succeeded", outcome.error
    assert outcome.result == [{"tool": "get-weather", "args": {"city": "Oslo"}}, "not_found"]


def test_errors_carry_type_message_and_line_but_no_traceback(runner: LocalSandboxRunner) -> None:
    outcome = run(runner, "x = 1\n\ndef f():\n    return {}['missing']\n\nf()")
    assert outcome.status == "error"
    assert outcome.error == "KeyError: 'missing' (line 4)"
    assert "Traceback" not in (outcome.error or "")


def test_a_result_that_is_not_json_is_an_error(runner: LocalSandboxRunner) -> None:
    outcome = run(runner, "result = {1, 2}")
    assert outcome.status == "error" and "not JSON serializable" in (outcome.error or "")
    outcome = run(runner, "result = float('nan')")
    assert outcome.status == "error" and "ValueError" in (outcome.error or "")


def test_rejected_programs_never_start_a_child(runner: LocalSandboxRunner) -> None:
    outcome = run(runner, "import os\nresult = os.listdir('/')")
    assert outcome.status == "rejected"
    assert outcome.error is not None and outcome.error.startswith("line 1: import of 'os'")


def test_the_wall_clock_timeout_kills_a_busy_loop(runner: LocalSandboxRunner) -> None:
    # The CPU limit (default 10 s) would end it as "killed": "timeout" is the wall clock's kill.
    outcome = run(runner, "print('started')\nwhile True:\n    pass", limits=RunLimits(timeout_s=1.0))
    assert outcome.status == "timeout"
    assert outcome.error == "wall-clock timeout after 1 s"
    assert outcome.stdout == "started\n"  # output sent before the kill is kept


def test_the_cpu_limit_kills_with_the_limit_named(runner: LocalSandboxRunner) -> None:
    outcome = run(runner, "while True:\n    pass", limits=RunLimits(timeout_s=10.0, cpu_s=1))
    assert outcome.status == "killed"  # before the 10 s wall clock, which would say "timeout"
    assert "CPU time limit (1 s" in (outcome.error or "")


def test_the_memory_limit_raises_memory_error(runner: LocalSandboxRunner) -> None:
    outcome = run(runner, "x = bytearray(300 * 1024 * 1024)", limits=RunLimits(memory_mb=128))
    assert outcome.status == "error"
    assert outcome.error == "MemoryError (address-space limit 128 MB) (line 1)"


def test_an_exit_without_result_is_an_error(runner: LocalSandboxRunner) -> None:
    outcome = run(runner, "raise SystemExit(3)")
    assert outcome.status == "error" and outcome.error == "SystemExit: 3 (line 1)"


def test_twenty_runs_at_once_one_of_them_a_cpu_bomb(runner: LocalSandboxRunner) -> None:
    tools = FakeTools(delay=0.05)

    finished: list[int] = []  # the order the runs ended in

    async def all_runs() -> list[RunOutcome]:
        async def one(i: int) -> RunOutcome:
            if i == 7:
                code, limits = "while True:\n    pass", RunLimits(timeout_s=8.0, cpu_s=30)
            else:
                code = f"r = await echo(i={i})\nresult = sum(range({i} * 1000)) + r['args']['i']"
                limits = RunLimits(timeout_s=30.0)
            outcome = await runner.run(code, tools=tools, tool_names=TOOLS, limits=limits)
            finished.append(i)
            return outcome

        return await asyncio.gather(*(one(i) for i in range(20)))

    results = asyncio.run(all_runs())
    assert results[7].status == "timeout" and results[7].error == "wall-clock timeout after 8 s"
    assert finished[-1] == 7  # every other run ended while the bomb still burned its CPU
    for i, outcome in enumerate(results):
        if i != 7:
            assert outcome.status == "succeeded", (i, outcome.error)
            assert outcome.result == sum(range(i * 1000)) + i


def _fd_count() -> int:
    return len(list(Path("/proc/self/fd").iterdir()))


def _children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def test_fifty_runs_leak_no_descriptors_children_or_folders(runner: LocalSandboxRunner) -> None:
    run(runner, "result = 0")  # the zygote is up
    zygote = runner.health().zygote_pid
    assert zygote is not None
    before = _fd_count()
    workdir = runner.health().workdir
    assert workdir is not None

    async def fifty() -> list[RunOutcome]:
        tools = FakeTools()
        codes = ["result = 1", "1/0", "await echo(x=1)\nresult = 2", "print('x')"]
        return [
            await runner.run(codes[i % 4], tools=tools, tool_names=TOOLS, limits=LIMITS) for i in range(50)
        ]

    outcomes = asyncio.run(fifty())
    assert [o.status for o in outcomes] == [["succeeded", "error"][i % 4 == 1] for i in range(50)]
    assert _fd_count() == before
    assert _children_of(zygote) == []  # every child was reaped: no zombies
    assert list(Path(workdir).iterdir()) == []  # every run's folder was removed
    assert runner.health().zygote_pid == zygote  # one zygote served them all


def test_nothing_outlives_a_run(runner: LocalSandboxRunner) -> None:
    tools = FakeTools()
    code = (
        "import asyncio\n"
        "async def beat():\n    while True:\n        await echo(t='tick')\n"
        "        await asyncio.sleep(0.01)\n"
        "task = asyncio.ensure_future(beat())\nawait asyncio.sleep(0.1)\nresult = 'left'"
    )
    outcome = run(runner, code, tools, RunLimits(timeout_s=5.0, max_tool_calls=1000))
    assert outcome.status == "succeeded", outcome.error
    seen = len(tools.calls)
    assert seen > 0
    time.sleep(0.3)
    assert len(tools.calls) == seen


def test_a_cancelled_run_leaves_no_child(runner: LocalSandboxRunner) -> None:
    async def scenario() -> None:
        await runner.start()
        task = asyncio.create_task(
            runner.run("while True:\n    pass", tools=FakeTools(), tool_names=TOOLS, limits=LIMITS)
        )
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(scenario())
    zygote = runner.health().zygote_pid
    assert zygote is not None
    deadline = time.monotonic() + 2.0
    while _children_of(zygote) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _children_of(zygote) == []


def test_a_slow_tool_is_cancelled_when_the_run_times_out(runner: LocalSandboxRunner) -> None:
    outcome = run(runner, "await slow(seconds=30)", limits=RunLimits(timeout_s=0.5))
    assert outcome.status == "timeout"
    (call,) = outcome.tool_calls
    assert (call.tool, call.ok, call.error) == ("slow", False, "cancelled: the run ended")


def test_runs_share_no_state(runner: LocalSandboxRunner) -> None:
    first = run(runner, "import json, random\njson.left_behind = 'run one'\nresult = random.random()")
    second = run(
        runner, "import json, random\nresult = [getattr(json, 'left_behind', None), random.random()]"
    )
    assert first.status == second.status == "succeeded"
    assert second.result[0] is None  # a fresh child: nothing of the first run is there
    assert second.result[1] != first.result  # random is reseeded in every child


def test_health_reports_the_seccomp_filter(runner: LocalSandboxRunner) -> None:
    run(runner, "result = 1")
    health = runner.health()
    assert health.zygote_pid is not None and health.runs > 0
    assert health.seccomp_active is not None and health.seccomp_detail
    if os.geteuid() == 0:
        assert health.child_uid == 65534  # a root host's programs run as nobody
    else:
        assert health.child_uid == os.geteuid()
    if health.seccomp_active:
        outcome = asyncio.run(
            LocalSandboxRunner(require_seccomp=True).run(
                "result = 1", tools=FakeTools(), tool_names=[], limits=LIMITS
            )
        )
        assert outcome.status == "succeeded"


def test_without_seccomp_runs_still_work_and_say_so(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="toolweaver.execution.sandbox.runner")
    with LocalSandboxRunner(seccomp=False) as plain:
        first = run(plain, "result = 6 * 7")
        second = run(plain, "result = 1")
        assert (first.status, first.result, second.status) == ("succeeded", 42, "succeeded")
        health = plain.health()
        assert health.seccomp_active is False
        assert "disabled" in health.seccomp_detail
        warnings = [r for r in caplog.records if "seccomp filter is OFF" in r.getMessage()]
        assert len(warnings) == 1  # logged once
    with LocalSandboxRunner(seccomp=False, require_seccomp=True) as strict:
        outcome = run(strict, "result = 1")
        assert outcome.status == "error"
        assert "seccomp filter is not active" in (outcome.error or "")


def test_a_dead_zygote_is_replaced(runner: LocalSandboxRunner) -> None:
    run(runner, "result = 1")
    old = runner.health().zygote_pid
    assert old is not None
    os.kill(old, signal.SIGKILL)
    time.sleep(0.1)
    outcome = run(runner, "result = 2")
    assert (outcome.status, outcome.result) == ("succeeded", 2)
    assert runner.health().zygote_pid not in (None, old)


def test_closing_the_runner_stops_the_zygote_and_removes_its_folder() -> None:
    sandbox = LocalSandboxRunner()
    assert run(sandbox, "result = 1").result == 1
    health = sandbox.health()
    assert health.zygote_pid is not None and health.workdir is not None
    sandbox.close()
    assert not Path(health.workdir).exists()
    assert not Path(f"/proc/{health.zygote_pid}").exists()
    assert sandbox.health().zygote_pid is None


def test_a_zygote_dying_mid_run_ends_the_run_without_raising(runner: LocalSandboxRunner) -> None:
    async def scenario() -> RunOutcome:
        await runner.start()
        pid = runner.health().zygote_pid
        assert pid is not None
        task = asyncio.create_task(
            runner.run("await slow(seconds=30)", tools=FakeTools(), tool_names=TOOLS, limits=LIMITS)
        )
        await asyncio.sleep(0.3)
        os.kill(pid, signal.SIGKILL)
        return await task

    outcome = asyncio.run(scenario())
    # Not "timeout": the run ended when its zygote died, not at the 5 s wall clock.
    assert outcome.status in {"killed", "error"}, outcome
    assert run(runner, "result = 3").result == 3
