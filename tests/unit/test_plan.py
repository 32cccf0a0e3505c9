"""validate_plan: every problem named with its step, refs as dependencies, cycles, program steps."""

from __future__ import annotations

from typing import Any

import pytest

from toolweaver.catalog.model import Catalog, Tool
from toolweaver.errors import PlanValidationError
from toolweaver.execution.plan import (
    MAX_STEPS,
    Step,
    find_cycle,
    find_refs,
    parse_ref,
    validate_plan,
)

CATALOG = Catalog(
    [
        Tool(
            name="get_weather",
            description="Weather for a city.",
            parameters={
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "units": {"type": "string", "enum": ["metric", "imperial"]},
                },
                "required": ["city"],
            },
        ),
        Tool(
            name="send_email",
            description="Send an email.",
            parameters={
                "type": "object",
                "properties": {
                    "to": {"type": "array", "items": {"type": "string"}},
                    "subject": {"type": "string"},
                    "body": {
                        "type": "object",
                        "properties": {"text": {"type": "string"}},
                        "required": ["text"],
                    },
                },
                "required": ["to", "subject"],
                "additionalProperties": False,
            },
        ),
        Tool(name="now", description="The time."),
        Tool(name="pdf.render-v2", description="A name that is no Python identifier."),
    ]
)


def weather(step_id: str = "s1", **extra: Any) -> dict[str, Any]:
    return {"id": step_id, "tool": "get_weather", "arguments": {"city": "Oslo"}, **extra}


def problems(plan: Any) -> list[str]:
    with pytest.raises(PlanValidationError) as info:
        validate_plan(plan, CATALOG)
    assert str(info.value).startswith("invalid plan: ")
    return info.value.problems


@pytest.mark.parametrize(
    ("plan", "expected"),
    [
        pytest.param(["s1"], 'a plan must be an object like {"steps": [...]}, got list', id="not-an-object"),
        pytest.param({}, '"steps" must be a non-empty list of steps', id="no-steps"),
        pytest.param({"steps": []}, '"steps" must be a non-empty list of steps', id="empty-steps"),
        pytest.param({"steps": [weather()], "goal": "x"}, "unknown plan key 'goal'", id="unknown-plan-key"),
        pytest.param({"steps": ["get_weather"]}, "step #1 must be an object, got str", id="step-not-object"),
        pytest.param({"steps": [{"tool": "now"}]}, "step #1: 'id' must be 1-64 letters", id="missing-id"),
        pytest.param({"steps": [weather("a.b")]}, "step #1: 'id' must be", id="dotted-id"),
        pytest.param({"steps": [weather(), weather()]}, "step 's1': the id is used twice", id="duplicate-id"),
        pytest.param({"steps": [{"id": "s1"}]}, "step 's1': give exactly one of 'tool'", id="neither"),
        pytest.param(
            {"steps": [{"id": "s1", "tool": "now", "program": "result = 1"}]},
            "step 's1': give exactly one of 'tool'",
            id="both",
        ),
        pytest.param(
            {"steps": [{"id": "s1", "tool": "get_wether"}]},
            "step 's1': unknown tool 'get_wether'; did you mean 'get_weather'?",
            id="unknown-tool",
        ),
        pytest.param(
            {"steps": [{"id": "s1", "tool": 7}]}, "step 's1': 'tool' must be a tool name", id="tool-type"
        ),
        pytest.param(
            {"steps": [weather(retries=3)]}, "step 's1': unknown key 'retries'", id="unknown-step-key"
        ),
        pytest.param(
            {"steps": [{"id": "s1", "tool": "now", "arguments": [1]}]},
            "step 's1': 'arguments' must be an object, got list",
            id="arguments-type",
        ),
        pytest.param(
            {"steps": [weather(depends_on=["s0"])]},
            "step 's1': depends on 's0', which is not a step",
            id="unknown-dep",
        ),
        pytest.param(
            {"steps": [weather(depends_on="s0")]},
            "step 's1': 'depends_on' must be a list of step ids",
            id="dep-type",
        ),
        pytest.param(
            {"steps": [weather(depends_on=["s1"])]},
            "step 's1': a step cannot depend on itself or refer to its own output",
            id="self-dependency",
        ),
        pytest.param(
            {"steps": [{"id": "s1", "tool": "get_weather", "arguments": {"city": {"$ref": "s9.city"}}}]},
            "step 's1': $ref 's9.city' at arguments.city names no step",
            id="ref-to-nothing",
        ),
        pytest.param(
            {"steps": [{"id": "s1", "tool": "get_weather", "arguments": {"city": {"$ref": "s1"}}}]},
            "step 's1': a step cannot depend on itself",
            id="ref-to-itself",
        ),
        pytest.param(
            {"steps": [{"id": "s1", "tool": "get_weather", "arguments": {"city": 5}}]},
            "step 's1': arguments for 'get_weather': $.city: must be of type \"string\"",
            id="argument-type",
        ),
        pytest.param(
            {"steps": [{"id": "s1", "tool": "get_weather", "arguments": {}}]},
            "step 's1': arguments for 'get_weather': $: 'city' is a required property",
            id="missing-argument",
        ),
        pytest.param(
            {"steps": [weather()], "output": "s2"}, "output 's2' names no step", id="unknown-output"
        ),
        pytest.param(
            {"steps": [weather()], "id": ""}, "'id' must be a string of 1-200 characters", id="plan-id"
        ),
        pytest.param(
            {"steps": [{"id": "p", "program": "result = (1"}]},
            "step 'p': the program has a syntax error at line 1",
            id="syntax-error",
        ),
        pytest.param(
            {"steps": [{"id": "p", "program": "  "}]},
            "step 'p': 'program' must be non-empty",
            id="empty-code",
        ),
        pytest.param(
            {"steps": [{"id": "p", "program": "result = 1", "tools": ["nope"]}]},
            "step 'p': unknown tool 'nope' in 'tools'",
            id="program-unknown-tool",
        ),
        pytest.param(
            {"steps": [{"id": "p", "program": "result = 1", "tools": "now"}]},
            "step 'p': 'tools' must be a list of tool names",
            id="program-tools-type",
        ),
        pytest.param(
            {"steps": [weather(f"s{i}") for i in range(MAX_STEPS + 1)]},
            f"the plan has {MAX_STEPS + 1} steps; at most {MAX_STEPS} are allowed",
            id="too-many-steps",
        ),
    ],
)
def test_invalid_plans(plan: Any, expected: str) -> None:
    found = problems(plan)
    assert any(expected in problem for problem in found), found


def test_every_problem_is_reported_at_once() -> None:
    found = problems(
        {
            "steps": [
                {"id": "a", "tool": "nope"},
                {"id": "b", "tool": "get_weather", "arguments": {"city": 1}},
                {"id": "c", "tool": "now", "depends_on": ["zz"]},
            ]
        }
    )
    assert [problem.split(":")[0] for problem in found] == ["step 'a'", "step 'b'", "step 'c'"]


@pytest.mark.parametrize(
    ("deps", "cycle"),
    [
        pytest.param({"a": ["b"], "b": ["a"]}, "a -> b -> a", id="two"),
        pytest.param({"a": ["c"], "b": ["a"], "c": ["b"]}, "a -> c -> b -> a", id="three"),
        pytest.param({"a": [], "b": ["c"], "c": ["d"], "d": ["b"]}, "b -> c -> d -> b", id="behind-a-root"),
    ],
)
def test_cycles_are_named(deps: dict[str, list[str]], cycle: str) -> None:
    steps = [{"id": step, "tool": "now", "depends_on": needs} for step, needs in deps.items()]
    assert problems({"steps": steps}) == [
        f"the steps depend on each other in a cycle (each needs the next): {cycle}"
    ]


def test_a_cycle_through_refs_is_found_too() -> None:
    steps = [
        {"id": "a", "tool": "get_weather", "arguments": {"city": {"$ref": "b.city"}}},
        {"id": "b", "tool": "get_weather", "arguments": {"city": {"$ref": "a.city"}}},
    ]
    assert problems({"steps": steps})[0].endswith("a -> b -> a")


def test_find_cycle_on_a_dag() -> None:
    steps = [Step("a"), Step("b", depends_on=("a",)), Step("c", depends_on=("a", "b"))]
    assert find_cycle(steps) == []


def test_refs_imply_dependencies_and_skip_value_validation() -> None:
    plan = validate_plan(
        {
            "id": "plan-7",
            "steps": [
                {"id": "w", "tool": "get_weather", "arguments": {"city": "Oslo"}},
                {"id": "t", "tool": "now"},
                {
                    "id": "mail",
                    "tool": "send_email",
                    "arguments": {
                        "to": [{"$ref": "w.contacts[0]"}, "ops@example.com"],
                        "subject": {"$ref": "t"},
                        "body": {"$ref": "w"},
                    },
                    "depends_on": ["t"],
                },
            ],
            "output": "mail",
        },
        CATALOG,
    )
    mail = plan.step("mail")
    assert mail.depends_on == ("w", "t")  # in plan order, each once
    assert (plan.output, plan.result_step, plan.id) == ("mail", "mail", "plan-7")
    assert plan.to_dict()["steps"][2]["depends_on"] == ["w", "t"]


def test_refs_do_not_hide_missing_required_keys_or_unknown_keys() -> None:
    found = problems(
        {
            "steps": [
                weather("w"),
                {"id": "m", "tool": "send_email", "arguments": {"to": {"$ref": "w.to"}, "cc": {"$ref": "w"}}},
            ]
        }
    )
    assert any("'subject' is a required property" in problem for problem in found), found
    assert any("'cc' was unexpected" in problem for problem in found), found
    assert not any("$.to" in problem for problem in found), found


def test_a_ref_inside_an_object_still_lets_its_siblings_be_checked() -> None:
    found = problems(
        {
            "steps": [
                weather("w"),
                {
                    "id": "m",
                    "tool": "send_email",
                    "arguments": {"to": ["a@example.com", 5], "subject": {"$ref": "w"}, "body": {}},
                },
            ]
        }
    )
    assert any("$.to[1]: must be of type" in problem for problem in found), found
    assert any("$.body: 'text' is a required property" in problem for problem in found), found


def test_program_steps_find_the_tools_their_code_uses() -> None:
    code = (
        "w = await get_weather(city=args['city'])\n"
        "doc = await call_tool('pdf.render-v2', {})\n"
        "now = 3  # a variable that shadows nothing in the catalog but is a tool name\n"
        "result = {'w': w, 'doc': doc, 'inputs': inputs}\n"
    )
    plan = validate_plan(
        {"steps": [weather("w"), {"id": "p", "program": code, "arguments": {"city": {"$ref": "w.city"}}}]},
        CATALOG,
    )
    step = plan.step("p")
    assert step.is_program
    assert step.depends_on == ("w",)
    assert set(step.tools) == {"get_weather", "pdf.render-v2", "now"}


def test_program_steps_may_list_their_tools() -> None:
    plan = validate_plan({"steps": [{"id": "p", "program": "result = 1", "tools": ["now", "now"]}]}, CATALOG)
    assert plan.step("p").tools == ("now",)
    assert plan.result_step == "p"


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        pytest.param("s1", ("s1", ()), id="whole-output"),
        pytest.param("s1.a.b", ("s1", ("a", "b")), id="fields"),
        pytest.param("s1.items[2].name", ("s1", ("items", "2", "name")), id="index"),
        pytest.param("s1[0]", ("s1", ("0",)), id="index-first"),
        pytest.param("s1.items.0", ("s1", ("items", "0")), id="dotted-index"),
        pytest.param("step-2.x_y", ("step-2", ("x_y",)), id="dashes"),
        pytest.param("#/definitions/a", None, id="json-schema-ref"),
        pytest.param("s1..a", None, id="empty-part"),
        pytest.param("s1.a[x]", None, id="bad-index"),
        pytest.param("", None, id="empty"),
    ],
)
def test_parse_ref(text: str, parsed: tuple[str, tuple[str, ...]] | None) -> None:
    assert parse_ref(text) == parsed


def test_find_refs_only_takes_single_key_objects_with_step_refs() -> None:
    value = {
        "a": {"$ref": "s1"},
        "b": [{"x": {"$ref": "s2.k"}}],
        "schema": {"$ref": "#/defs/thing"},
        "mixed": {"$ref": "s3", "other": 1},
    }
    assert list(find_refs(value)) == [(("a",), "s1"), (("b", 0, "x"), "s2.k")]
