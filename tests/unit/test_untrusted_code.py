"""Code from callers and models is parsed in the app's process only under bounds checked first."""

from __future__ import annotations

import pytest

from tests.unit.test_functions_http import call, payload
from toolweaver.execution.sandbox.precheck import precheck
from toolweaver.execution.untrusted_code import MAX_NESTING, MAX_PREFIX_RUN, UnparsableCode, parse_untrusted
from toolweaver.services import Services

HOSTILE = [
    pytest.param("x=" + "-" * 60_000 + "1", id="unary-chain-60k"),
    pytest.param("x=" + "not " * 20_000 + "1", id="not-chain"),
    pytest.param("x=" + "~" * (MAX_PREFIX_RUN + 1) + "1", id="one-over-the-run"),
    pytest.param("x=" + "(" * (MAX_NESTING + 1) + "1" + ")" * (MAX_NESTING + 1), id="one-over-the-nesting"),
    pytest.param("x=" + "[" * 5000 + "]" * 5000, id="deep-lists"),
    pytest.param("x=1" + "+1" * 30_000, id="long-binary-chain"),
    pytest.param("x = 'a\0b'", id="null-byte"),
]


@pytest.mark.parametrize("code", HOSTILE)
def test_hostile_code_is_a_reason_not_a_crash(code: str) -> None:
    with pytest.raises(UnparsableCode) as info:
        parse_untrusted(code)
    assert info.value.reason


def test_code_at_the_bounds_still_parses() -> None:
    parse_untrusted("x=" + "-" * MAX_PREFIX_RUN + "1")
    parse_untrusted("x=" + "(" * MAX_NESTING + "1" + ")" * MAX_NESTING)
    parse_untrusted("data = [" + ", ".join(str(n) for n in range(5000)) + "]\nresult = -(-sum(data))")


def test_syntax_errors_keep_their_line() -> None:
    with pytest.raises(UnparsableCode) as info:
        parse_untrusted("a = 1\nb = (")
    assert info.value.syntax and info.value.line == 2


@pytest.mark.parametrize("code", HOSTILE)
def test_the_precheck_rejects_it(code: str) -> None:
    assert precheck(code) is not None


@pytest.mark.parametrize("code", HOSTILE[:2])
def test_runs_answer_with_a_rejection_not_a_500(services: Services, code: str) -> None:
    response = call("runs", "POST", {"program": code})
    assert response.status_code in (200, 422), response.get_body()[:300]
    body = payload(response)
    assert "Traceback" not in str(body)
    if response.status_code == 200:
        assert body["status"] == "rejected"


def test_a_plan_with_such_a_program_is_invalid_not_a_crash(services: Services) -> None:
    plan = {"id": "p", "steps": [{"id": "s", "program": "x=" + "-" * 60_000 + "1"}]}
    response = call("runs", "POST", {"plan": plan})
    assert response.status_code == 422
    assert "cannot be parsed" in response.get_body().decode()
