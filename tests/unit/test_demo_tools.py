"""The demo tools: each one's behaviour, the calculator's refusals, and their demo catalog entries."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from typing import Any

import pytest
import yaml

from toolweaver.catalog import load_catalog
from toolweaver.execution.arithmetic import MAX_EXPRESSION_CHARS, evaluate
from toolweaver.execution.demo_tools import (
    DEMO_TOOLS,
    add_days_to_date,
    calculate,
    convert_units,
    day_of_week,
    days_between_dates,
    echo,
    text_statistics,
)
from toolweaver.execution.executor import ToolExecutor
from toolweaver.execution.ports import ToolCallError
from toolweaver.settings import DEMO_CATALOG


def entry_yaml(name: str) -> str:
    """The registry's entry as demo_catalog.yaml writes it (paste it there when this test fails)."""
    text = yaml.safe_dump(
        [DEMO_TOOLS.catalog().get(name).to_dict()],
        sort_keys=False,
        allow_unicode=True,
        width=105,
        default_flow_style=None,
    )
    return "".join("  " + line if line.strip() else line for line in text.splitlines(keepends=True))


@pytest.mark.parametrize("name", [pytest.param(tool.name, id=tool.name) for tool in DEMO_TOOLS.tools])
def test_demo_catalog_entry_equals_the_registry(name: str) -> None:
    entry = load_catalog(DEMO_CATALOG).find(name)
    assert entry is not None, f"add to demo_catalog.yaml:\n{entry_yaml(name)}"
    assert entry.to_dict() == DEMO_TOOLS.catalog().get(name).to_dict(), (
        f"replace it with:\n{entry_yaml(name)}"
    )


def test_the_demo_tools_are_the_advertised_set() -> None:
    assert set(DEMO_TOOLS.catalog().names) == {
        "echo",
        "calculate",
        "convert_units",
        "days_between_dates",
        "add_days_to_date",
        "day_of_week",
        "text_statistics",
    }
    for tool in DEMO_TOOLS.tools:
        assert len(tool.description) >= 60, tool.name  # search ranks tools by these
        assert tool.examples, tool.name
        assert all(prop.get("description") for prop in tool.parameters["properties"].values()), tool.name


def test_echo() -> None:
    assert echo("hello") == {"text": "hello"}


@pytest.mark.parametrize(
    ("expression", "result"),
    [
        pytest.param("1 + 2 * 3", 7, id="precedence"),
        pytest.param("(1200 * 1.19) / 12", 119.0, id="parentheses"),
        pytest.param("2 ** 10 % 7", 2, id="power-and-remainder"),
        pytest.param("7 // 2", 3, id="floor-division"),
        pytest.param("-3 ** 2", -9, id="unary-minus"),
        pytest.param("+4 - -1", 5, id="unary-plus"),
        pytest.param("0.1 + 0.2", 0.3, id="calculator-rounding"),
        pytest.param("2 ** -1", 0.5, id="negative-power"),
        pytest.param("10 ** 100", 10**100, id="big-integer"),
        pytest.param(" 1_000 + 1e3 ", 2000.0, id="literals"),
    ],
)
def test_calculate(expression: str, result: float) -> None:
    assert calculate(expression) == {"expression": expression, "result": result}


@pytest.mark.parametrize(
    ("expression", "problem"),
    [
        pytest.param("x + 1", "Name is not allowed", id="name"),
        pytest.param("abs(-1)", "Call is not allowed", id="call"),
        pytest.param("__import__('os').system('true')", "Call is not allowed", id="import-call"),
        pytest.param("(1).__class__", "Attribute is not allowed", id="attribute"),
        pytest.param("[1, 2][0]", "Subscript is not allowed", id="subscript"),
        pytest.param("(lambda: 1)()", "Call is not allowed", id="lambda"),
        pytest.param("1 < 2", "Compare is not allowed", id="comparison"),
        pytest.param("'a' * 3", "Constant is not allowed", id="string"),
        pytest.param("True + 1", "Constant is not allowed", id="bool"),
        pytest.param("2j", "Constant is not allowed", id="complex"),
        pytest.param("1 << 2", "BinOp is not allowed", id="shift"),
        pytest.param("2 ^ 8", "write powers as 2 ** 8", id="caret"),
        pytest.param("1 / 0", "division by zero", id="zero-division"),
        pytest.param("5 % 0", "division by zero", id="zero-modulo"),
        pytest.param("9 ** 9 ** 9", "more than 4096 bits", id="huge-power"),
        pytest.param("(10 ** 1000) * (10 ** 1000)", "more than 4096 bits", id="huge-product"),
        pytest.param("1e308 * 10", "too large", id="float-overflow"),
        pytest.param("2.0 ** 5000", "too large", id="float-power-overflow"),
        pytest.param("1 +", "not an arithmetic expression", id="syntax"),
        pytest.param("1; 2", "not an arithmetic expression", id="statements"),
        pytest.param("1" * (MAX_EXPRESSION_CHARS + 1), "longer than", id="too-long"),
    ],
)
def test_calculate_refuses(expression: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        evaluate(expression)


@pytest.mark.parametrize(
    ("value", "source", "target", "expected"),
    [
        pytest.param(26.2, "mi", "km", (42.1648128, "mi", "km", "length"), id="miles"),
        pytest.param(6, "feet", "Metres", (1.8288, "ft", "m", "length"), id="names"),
        pytest.param(10, "lbs", "kg", (4.5359237, "lb", "kg", "mass"), id="pounds"),
        pytest.param(1, "st", "lb", (14.0, "st", "lb", "mass"), id="stone"),
        pytest.param(72, "°F", "°C", (22.2222222222, "f", "c", "temperature"), id="fahrenheit"),
        pytest.param(-40, "celsius", "fahrenheit", (-40.0, "c", "f", "temperature"), id="minus-forty"),
        pytest.param(0, "K", "C", (-273.15, "k", "c", "temperature"), id="kelvin"),
        pytest.param(2, "gallons", "l", (7.570823568, "gal", "l", "volume"), id="gallons"),
        pytest.param(3, "tsp", "tbsp", (1.0, "tsp", "tbsp", "volume"), id="spoons"),
        pytest.param(1, "fl. oz", "ml", (29.5735295625, "floz", "ml", "volume"), id="fluid-ounce"),
    ],
)
def test_convert_units(value: float, source: str, target: str, expected: tuple[float, str, str, str]) -> None:
    result = convert_units(value, source, target)
    assert (result["value"], result["from_unit"], result["unit"], result["quantity"]) == pytest.approx(
        expected
    )
    assert result["from_value"] == value


@pytest.mark.parametrize(
    ("source", "target", "value", "problem"),
    [
        pytest.param("km", "kg", 1, "cannot convert length", id="mixed-kinds"),
        pytest.param("furlong", "m", 1, "unknown unit 'furlong'", id="unknown"),
        pytest.param("C", "K", -300, "below absolute zero", id="absolute-zero"),
    ],
)
def test_convert_units_refuses(source: str, target: str, value: float, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        convert_units(value, source, target)


D = dt.date


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        pytest.param(
            D(2025, 3, 3), D(2025, 3, 10), {"days": 7, "weeks": 1.0, "business_days": 5}, id="a-week"
        ),
        pytest.param(
            D(2025, 3, 7), D(2025, 3, 10), {"days": 3, "weeks": 0.43, "business_days": 1}, id="weekend"
        ),
        pytest.param(
            D(2025, 3, 10), D(2025, 3, 3), {"days": -7, "weeks": -1.0, "business_days": -5}, id="backwards"
        ),
        pytest.param(
            D(2024, 1, 1), D(2025, 1, 1), {"days": 366, "weeks": 52.29, "business_days": 262}, id="leap"
        ),
        pytest.param(
            D(2025, 3, 3), D(2025, 3, 3), {"days": 0, "weeks": 0.0, "business_days": 0}, id="same-day"
        ),
    ],
)
def test_days_between_dates(start: dt.date, end: dt.date, expected: dict[str, Any]) -> None:
    assert days_between_dates(start, end) == expected


def test_business_days_match_counting_one_by_one() -> None:
    start = D(2025, 1, 1)
    for length in range(40):
        end = start + dt.timedelta(days=length)
        slow = sum((start + dt.timedelta(days=i)).weekday() < 5 for i in range(length))
        assert days_between_dates(start, end)["business_days"] == slow


@pytest.mark.parametrize(
    ("start", "days", "business", "expected"),
    [
        pytest.param(D(2025, 1, 30), 3, False, (D(2025, 2, 2), "Sunday"), id="calendar"),
        pytest.param(D(2025, 3, 1), -1, False, (D(2025, 2, 28), "Friday"), id="calendar-back"),
        pytest.param(D(2025, 3, 5), 3, True, (D(2025, 3, 10), "Monday"), id="business-over-weekend"),
        pytest.param(D(2025, 3, 7), 5, True, (D(2025, 3, 14), "Friday"), id="business-week"),
        pytest.param(D(2025, 3, 8), 1, True, (D(2025, 3, 10), "Monday"), id="from-saturday"),
        pytest.param(D(2025, 3, 8), 5, True, (D(2025, 3, 14), "Friday"), id="week-from-saturday"),
        pytest.param(D(2025, 3, 10), -1, True, (D(2025, 3, 7), "Friday"), id="business-back"),
        pytest.param(D(2025, 3, 9), -1, True, (D(2025, 3, 7), "Friday"), id="back-from-sunday"),
        pytest.param(D(2025, 3, 8), 0, True, (D(2025, 3, 8), "Saturday"), id="zero"),
        pytest.param(D(2025, 1, 1), 260, True, (D(2025, 12, 31), "Wednesday"), id="a-year"),
    ],
)
def test_add_days_to_date(start: dt.date, days: int, business: bool, expected: tuple[dt.date, str]) -> None:
    result = add_days_to_date(start, days, business_days=business)
    assert (result["date"], result["weekday"]) == expected


@pytest.mark.parametrize(
    "start", [pytest.param(D(2025, 3, 3 + i), id=D(2025, 3, 3 + i).strftime("%a")) for i in range(7)]
)
def test_business_days_match_stepping_one_by_one(start: dt.date) -> None:
    for days in range(-15, 16):
        step = 1 if days > 0 else -1
        slow, left = start, abs(days)
        while left:
            slow += dt.timedelta(days=step)
            left -= slow.weekday() < 5
        assert add_days_to_date(start, days, business_days=True)["date"] == slow, days


def test_add_days_past_the_calendar_is_refused() -> None:
    with pytest.raises(ValueError, match="outside the years 1 to 9999"):
        add_days_to_date(D(9999, 12, 1), 100)


def test_day_of_week() -> None:
    assert day_of_week(D(2024, 12, 29)) == {
        "weekday": "Sunday",
        "iso_weekday": 7,
        "iso_week": 52,
        "day_of_year": 364,
        "is_weekend": True,
        "is_leap_year": True,
    }
    assert day_of_week(D(1900, 3, 1))["is_leap_year"] is False
    assert day_of_week(D(2000, 3, 1))["is_leap_year"] is True


def test_text_statistics() -> None:
    text = "The cat sat on the mat. The cat slept!\n\nDon't wake the e-mail cat... Why not?"
    stats = text_statistics(text, top_n=2)
    assert stats["words"] == 16
    assert stats["unique_words"] == 11
    assert stats["sentences"] == 4
    assert stats["paragraphs"] == 2
    assert stats["characters"] == len(text)
    assert stats["characters_no_spaces"] == len(text.replace(" ", "").replace("\n", ""))
    assert stats["most_common_words"] == [{"word": "cat", "count": 3}, {"word": "sat", "count": 1}]
    assert stats["average_sentence_words"] == 4.0
    with_stopwords = text_statistics(text, top_n=1, ignore_stopwords=False)
    assert with_stopwords["most_common_words"] == [{"word": "the", "count": 4}]


def test_text_statistics_of_nothing() -> None:
    stats = text_statistics("   ")
    assert (stats["words"], stats["sentences"], stats["paragraphs"], stats["most_common_words"]) == (
        0,
        0,
        0,
        [],
    )
    assert stats["average_word_length"] == 0.0


def call(name: str, arguments: dict[str, Any]) -> Any:
    executor = ToolExecutor(DEMO_TOOLS.catalog(), {"python": DEMO_TOOLS.backend()})
    return asyncio.run(executor.invoke(name, arguments))


def test_demo_tools_through_the_executor_take_and_give_json() -> None:
    assert call("add_days_to_date", {"date": "2025-03-05", "days": 3, "business_days": True}) == {
        "date": "2025-03-10",
        "weekday": "Monday",
    }
    assert call("calculate", {"expression": "6 * 7"}) == {"expression": "6 * 7", "result": 42}
    assert call("convert_units", {"value": 1, "from_unit": "km", "to_unit": "m"})["value"] == 1000


@pytest.mark.parametrize(
    ("name", "arguments", "kind", "problem"),
    [
        pytest.param(
            "day_of_week",
            {"date": "next tuesday"},
            "invalid_arguments",
            "$.date: must be a valid date",
            id="date",
        ),
        pytest.param(
            "calculate", {"expression": "os.system"}, "error", "Attribute is not allowed", id="calculator"
        ),
        pytest.param(
            "add_days_to_date",
            {"date": "2025-01-01", "days": 10**9},
            "invalid_arguments",
            "fails maximum",
            id="range",
        ),
    ],
)
def test_demo_tool_errors_through_the_executor(
    name: str, arguments: dict[str, Any], kind: str, problem: str
) -> None:
    with pytest.raises(ToolCallError) as info:
        call(name, arguments)
    assert info.value.kind == kind
    assert problem in str(info.value)
