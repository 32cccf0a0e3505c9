"""The plan schema a grammar enforces, and the compact tool listing of the planner's prompt."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from toolweaver.catalog import Catalog, Tool, load_catalog
from toolweaver.planning.listing import describe_tool, signature
from toolweaver.planning.prompt import parse_plan
from toolweaver.planning.schema import MAX_ARGUMENT_SCHEMA_CHARS, PLAN_MAX_STEPS, plan_schema
from toolweaver.settings import DEMO_CATALOG


@pytest.fixture(scope="module")
def demo() -> Catalog:
    return load_catalog(DEMO_CATALOG)


@pytest.fixture(scope="module")
def validator(demo: Catalog) -> jsonschema.Draft202012Validator:
    tools = [demo.get(name) for name in ("convert_units", "echo", "create_calendar_event")]
    schema = plan_schema(tools)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def step(**fields: Any) -> dict[str, Any]:
    return {"id": "s1", **fields}


CONVERT = step(tool="convert_units", arguments={"value": 26.2, "from_unit": "mi", "to_unit": "km"})


@pytest.mark.parametrize(
    "plan",
    [
        pytest.param({"steps": [CONVERT], "output": "s1"}, id="tool-step"),
        pytest.param(
            {
                "steps": [
                    CONVERT,
                    {
                        "id": "s2",
                        "tool": "echo",
                        "arguments": {"text": {"$ref": "s1.unit"}},
                        "depends_on": ["s1"],
                    },
                ],
                "output": "s2",
            },
            id="reference-in-place-of-a-value",
        ),
        pytest.param(
            {"steps": [step(program="result = 1", tools=["echo"])], "output": "s1"}, id="program-step"
        ),
        pytest.param({"steps": [], "output": "", "cannot_plan": "No tool books flights."}, id="cannot-plan"),
    ],
)
def test_the_schema_takes_valid_plans(
    validator: jsonschema.Draft202012Validator, plan: dict[str, Any]
) -> None:
    assert list(validator.iter_errors(plan)) == []


@pytest.mark.parametrize(
    "plan",
    [
        pytest.param({"steps": [step(tool="convert", arguments={})], "output": "s1"}, id="unoffered-tool"),
        pytest.param({"steps": [CONVERT]}, id="no-output"),
        pytest.param(
            {
                "steps": [
                    step(
                        tool="convert_units", arguments={"value": "26.2", "from_unit": "mi", "to_unit": "km"}
                    )
                ],
                "output": "s1",
            },
            id="argument-of-the-wrong-type",
        ),
        pytest.param(
            {
                "steps": [step(tool="convert_units", arguments={"value": 1, "from_unit": "mi"})],
                "output": "s1",
            },
            id="required-argument-missing",
        ),
        pytest.param({"steps": [CONVERT] * (PLAN_MAX_STEPS + 1), "output": "s1"}, id="too-many-steps"),
        pytest.param(
            {"steps": [step(program="result = 1", tools=["rm_rf"])], "output": "s1"}, id="program-tool"
        ),
        pytest.param({"steps": [{**CONVERT, "id": "1st"}], "output": "1st"}, id="step-id"),
    ],
)
def test_the_schema_rules_out_what_validation_would_refuse(
    validator: jsonschema.Draft202012Validator, plan: dict[str, Any]
) -> None:
    assert list(validator.iter_errors(plan)) != []


def test_large_or_non_local_argument_schemas_share_a_free_form_branch(demo: Catalog) -> None:
    big = Tool.from_dict(
        {
            "name": "big_tool",
            "description": "Takes many arguments.",
            "parameters": {
                "type": "object",
                "properties": {f"field_{i}": {"type": "string", "description": "x" * 40} for i in range(40)},
            },
        }
    )
    assert len(json.dumps(big.parameters)) > MAX_ARGUMENT_SCHEMA_CHARS
    schema = plan_schema([big, demo.get("echo")])
    branches = schema["properties"]["steps"]["items"]["oneOf"]
    free = [
        b
        for b in branches
        if b["properties"].get("arguments") == {"type": "object"} and "tool" in b["properties"]
    ]
    assert [b["properties"]["tool"]["enum"] for b in free] == [["big_tool"]]
    assert jsonschema.Draft202012Validator(schema).is_valid(
        {"steps": [{"id": "s1", "tool": "big_tool", "arguments": {"anything": 1}}], "output": "s1"}
    )


def test_length_limits_stay_out_of_the_grammar_but_in_the_tool(demo: Catalog) -> None:
    # text_statistics takes up to 1,000,000 characters: unrolled, that was an 8 MB grammar.
    tool = demo.get("text_statistics")
    assert "maxLength" in json.dumps(tool.parameters)
    assert "maxLength" not in json.dumps(plan_schema([tool]))


def test_a_tool_is_listed_as_a_signature_with_every_argument(demo: Catalog) -> None:
    text = describe_tool(demo.get("create_calendar_event"))
    assert text.startswith("## create_calendar_event\nCreate a meeting")
    assert "\n  title: string  # Event title shown to attendees." in text
    assert "\n  attendees?: string<email>[]  # Email addresses to invite." in text
    assert "\n  video_call?: boolean = false  # Add a video-call link." in text
    assert '\n  reminders?: {method: "email"|"popup", minutes_before: integer>=0}[]' in text
    assert "\nreturns: {event_id: string, html_link?: string<uri>}" in text
    assert '\nexample: "Book a 30 minute call' in text
    assert describe_tool(demo.get("create_calendar_event")) == text  # the same bytes every time


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        pytest.param(
            {"type": "string", "pattern": "^[A-Z]{3}$"}, "string matching /^[A-Z]{3}$/", id="pattern"
        ),
        pytest.param({"type": "integer", "minimum": 0, "maximum": 100}, "integer 0..100", id="range"),
        pytest.param({"type": ["string", "null"]}, "string|null", id="type-list"),
        pytest.param({"type": "array", "items": {"enum": ["a", "b"]}}, '("a"|"b")[]', id="enum-array"),
        pytest.param({"type": "string", "maxLength": 10}, "string", id="limits-left-to-validation"),
        pytest.param({"allOf": [{"type": "string"}]}, '{"allOf":[{"type":"string"}]}', id="no-short-form"),
    ],
)
def test_signatures(schema: dict[str, Any], expected: str) -> None:
    assert signature(schema) == expected


@pytest.mark.parametrize(
    ("content", "steps"),
    [
        pytest.param('Here you go:\n```json\n{"steps": [{"id": "s1"}]}\n```\nBye.', 1, id="fenced-in-prose"),
        pytest.param(
            'The plan is {"steps": [{"id": "a"}, {"id": "b"}], "output": "b"} as asked.', 2, id="inline"
        ),
        pytest.param('{"note": {"x": 1}} then {"steps": [{"id": "a"}]}', 1, id="the-object-with-steps"),
    ],
)
def test_the_plan_is_found_in_prose(content: str, steps: int) -> None:
    plan, problems = parse_plan(content)
    assert problems == [] and plan is not None and len(plan["steps"]) == steps


def test_a_cut_answer_is_not_mistaken_for_its_arguments() -> None:
    plan, problems = parse_plan('{"steps": [{"id": "s1", "tool": "x", "arguments": {"start": "2026-11-28"}')
    assert plan is None and "not valid JSON" in problems[0]
