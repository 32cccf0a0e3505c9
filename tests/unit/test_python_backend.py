"""Python tools: schemas from signatures and docstrings, the registry, and the backend's calls."""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from typing import Annotated, Any, Literal, Optional, TypedDict

import pytest

from toolweaver.execution.backends.python import PythonBackend, ToolRegistry, to_json
from toolweaver.execution.backends.signature import parse_docstring, type_schema
from toolweaver.execution.ports import ToolCallError


class Point(TypedDict, total=False):
    """A point.

    Attributes:
        x: Across.
        y: Up.
    """

    x: float
    y: float


class Named(TypedDict):
    name: str


@pytest.mark.parametrize(
    ("hint", "schema"),
    [
        pytest.param(str, {"type": "string"}, id="str"),
        pytest.param(int, {"type": "integer"}, id="int"),
        pytest.param(float, {"type": "number"}, id="float"),
        pytest.param(bool, {"type": "boolean"}, id="bool"),
        pytest.param(Any, {}, id="any"),
        pytest.param(list, {"type": "array"}, id="bare-list"),
        pytest.param(list[str], {"type": "array", "items": {"type": "string"}}, id="list-of-str"),
        pytest.param(
            list[list[int]],
            {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
            id="nested",
        ),
        pytest.param(set[str], {"type": "array", "items": {"type": "string"}, "uniqueItems": True}, id="set"),
        pytest.param(
            tuple[int, str],
            {
                "type": "array",
                "prefixItems": [{"type": "integer"}, {"type": "string"}],
                "minItems": 2,
                "maxItems": 2,
            },
            id="fixed-tuple",
        ),
        pytest.param(tuple[int, ...], {"type": "array", "items": {"type": "integer"}}, id="open-tuple"),
        pytest.param(dict, {"type": "object"}, id="bare-dict"),
        pytest.param(
            dict[str, int], {"type": "object", "additionalProperties": {"type": "integer"}}, id="dict"
        ),
        pytest.param(Literal["a", "b"], {"type": "string", "enum": ["a", "b"]}, id="literal"),
        pytest.param(Literal[1, "x"], {"enum": [1, "x"]}, id="mixed-literal"),
        pytest.param(Optional[int], {"type": ["integer", "null"]}, id="optional"),  # noqa: UP045
        pytest.param(int | str, {"type": ["integer", "string"]}, id="union"),
        pytest.param(
            list[int] | None,
            {"anyOf": [{"type": "array", "items": {"type": "integer"}}, {"type": "null"}]},
            id="anyof",
        ),
        pytest.param(dt.date, {"type": "string", "format": "date"}, id="date"),
        pytest.param(dt.datetime, {"type": "string", "format": "date-time"}, id="datetime"),
        pytest.param(
            Annotated[str, "A name."], {"type": "string", "description": "A name."}, id="annotated-text"
        ),
        pytest.param(
            Annotated[int, {"minimum": 1}], {"type": "integer", "minimum": 1}, id="annotated-schema"
        ),
        pytest.param(
            Point,
            {
                "type": "object",
                "properties": {
                    "x": {"type": "number", "description": "Across."},
                    "y": {"type": "number", "description": "Up."},
                },
            },
            id="typeddict-optional-keys",
        ),
        pytest.param(
            Named,
            {"type": "object", "properties": {"name": {"type": "string"}}, "required": ["name"]},
            id="typeddict",
        ),
    ],
)
def test_type_schemas(hint: Any, schema: dict[str, Any]) -> None:
    assert type_schema(hint, "test") == schema


@pytest.mark.parametrize(
    ("hint", "problem"),
    [
        pytest.param(dict[int, str], "keys are strings", id="int-keys"),
        pytest.param(complex, "cannot describe", id="complex"),
        pytest.param(threading.Lock, "cannot describe", id="object"),
    ],
)
def test_unsupported_types_are_refused(hint: Any, problem: str) -> None:
    with pytest.raises(TypeError, match=problem):
        type_schema(hint, "where")


def test_docstring_first_paragraph_and_args() -> None:
    docs = parse_docstring(
        """Find rooms that are free
        at the given time.

        More detail that is not part of the description.

        Args:
            start (str): When the meeting starts,
                in ISO format.
            minutes: How long.
            *names: Ignored stars.

        Returns:
            rooms: not a parameter.
        """
    )
    assert docs.description == "Find rooms that are free at the given time."
    assert docs.params == {
        "start": "When the meeting starts, in ISO format.",
        "minutes": "How long.",
        "names": "Ignored stars.",
    }


def test_docstring_without_sections() -> None:
    assert parse_docstring("Just one line.") == parse_docstring("\n    Just one line.\n    ")
    assert parse_docstring(None).description == ""


def test_signature_becomes_the_tool() -> None:
    registry = ToolRegistry()

    @registry.tool(
        title="Book", tags=["rooms"], examples=[{"request": "book it", "arguments": {"room": "A"}}]
    )
    def book_room(
        room: str,
        attendees: list[str] | None = None,
        minutes: int = 30,
        layout: Literal["board", "theatre"] = "board",
        notify: bool = True,
    ) -> dict[str, Any]:
        """Book a meeting room.

        Args:
            room: Room name.
            attendees: Emails to invite.
            minutes: Length of the meeting.
        """
        return {}

    tool = registry.catalog().get("book_room")
    assert tool.backend == "python"
    assert (tool.title, tool.tags, tool.description) == ("Book", ("rooms",), "Book a meeting room.")
    assert tool.examples == ({"request": "book it", "arguments": {"room": "A"}},)
    assert tool.parameters == {
        "type": "object",
        "properties": {
            "room": {"type": "string", "description": "Room name."},
            "attendees": {
                "anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}],
                "description": "Emails to invite.",
                "default": None,
            },
            "minutes": {"type": "integer", "description": "Length of the meeting.", "default": 30},
            "layout": {"type": "string", "enum": ["board", "theatre"], "default": "board"},
            "notify": {"type": "boolean", "default": True},
        },
        "required": ["room"],
        "additionalProperties": False,
    }
    assert tool.returns == {"type": "object"}


def test_bare_decorator_and_overrides() -> None:
    registry = ToolRegistry()

    @registry.tool
    def ping() -> Any:
        """Answer pong."""
        return "pong"

    @registry.tool(name="renamed", description="Given description.")
    def original(a: Annotated[int, "The number."]) -> int:
        return a

    assert registry.tools[0].parameters == {"type": "object", "properties": {}, "additionalProperties": False}
    assert registry.tools[0].returns is None
    renamed = registry.catalog().get("renamed")
    assert renamed.description == "Given description."
    assert renamed.parameters["properties"]["a"] == {"type": "integer", "description": "The number."}
    assert ping() == "pong"  # the decorator returns the function itself
    assert "renamed" in registry
    assert len(registry) == 2


def no_doc(a: int) -> int:
    return a


def star_args(*values: int) -> int:
    """Sum."""
    return sum(values)


def star_kwargs(**values: int) -> int:
    """Count."""
    return len(values)


def bad_default(when: dt.date = dt.date(2024, 1, 1)) -> None:
    """Has a default that is not JSON."""


@pytest.mark.parametrize(
    ("func", "error", "problem"),
    [
        pytest.param(no_doc, ValueError, "give the tool a docstring", id="no-docstring"),
        pytest.param(star_args, TypeError, r"\*values cannot be described", id="star-args"),
        pytest.param(star_kwargs, TypeError, r"\*values cannot be described", id="star-kwargs"),
        pytest.param(bad_default, TypeError, "is not a JSON value", id="non-json-default"),
    ],
)
def test_bad_functions_fail_at_registration(func: Any, error: type[Exception], problem: str) -> None:
    with pytest.raises(error, match=problem):
        ToolRegistry().add(func)


def test_names_are_unique() -> None:
    registry = ToolRegistry()
    registry.add(lambda: 1, name="total", description="One.")
    with pytest.raises(ValueError, match="already registered"):
        registry.add(lambda: 2, name="total", description="Two.")


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_sync_tools_run_in_a_worker_thread_and_async_tools_on_the_loop() -> None:
    registry = ToolRegistry()
    threads: dict[str, int] = {}

    @registry.tool
    def sync_tool() -> int:
        """Sync."""
        threads["sync"] = threading.get_ident()
        return 1

    @registry.tool
    async def async_tool(x: int) -> int:
        """Async."""
        threads["async"] = threading.get_ident()
        await asyncio.sleep(0)
        return x * 2

    backend = registry.backend()
    catalog = registry.catalog()

    async def main() -> tuple[Any, Any, int]:
        return (
            await backend.call(catalog.get("sync_tool"), {}),
            await backend.call(catalog.get("async_tool"), {"x": 21}),
            threading.get_ident(),
        )

    sync_result, async_result, loop_thread = run(main())
    assert (sync_result, async_result) == (1, 42)
    assert threads["async"] == loop_thread
    assert threads["sync"] != loop_thread


def test_dates_arrive_as_dates_and_results_become_json() -> None:
    registry = ToolRegistry()

    @registry.tool
    def next_day(day: dt.date, tags: set[str] | None = None) -> Any:
        """The day after."""
        return {"day": day + dt.timedelta(days=1), "pair": (1, 2), "tags": sorted(tags or [])}

    tool = registry.catalog().get("next_day")
    assert run(registry.backend().call(tool, {"day": "2024-02-28"})) == {
        "day": "2024-02-29",
        "pair": [1, 2],
        "tags": [],
    }
    with pytest.raises(ToolCallError, match=r"\$.day: must be an ISO 8601 date") as info:
        run(registry.backend().call(tool, {"day": "tomorrow"}))
    assert info.value.kind == "invalid_arguments"


@pytest.mark.parametrize(
    ("exception", "message"),
    [
        pytest.param(ValueError("unknown unit 'furlong'"), "unknown unit 'furlong'", id="value-error"),
        pytest.param(ZeroDivisionError("division by zero"), "division by zero", id="arithmetic-error"),
    ],
)
def test_input_errors_of_a_tool_become_tool_call_errors(exception: Exception, message: str) -> None:
    registry = ToolRegistry()

    @registry.tool
    def refuse() -> None:
        """Refuses."""
        raise exception

    with pytest.raises(ToolCallError) as info:
        run(registry.backend().call(registry.catalog().get("refuse"), {}))
    assert (info.value.kind, info.value.retryable) == ("error", False)
    assert str(info.value) == f"tool 'refuse': {message}"


def test_other_exceptions_are_left_to_the_executor() -> None:
    registry = ToolRegistry()

    @registry.tool
    def buggy() -> None:
        """Has a bug."""
        raise KeyError("oops")

    with pytest.raises(KeyError):
        run(registry.backend().call(registry.catalog().get("buggy"), {}))


def test_unregistered_tools_are_not_found_and_backends_search_every_registry() -> None:
    first, second = ToolRegistry(), ToolRegistry()
    one = first.add(lambda: 1, name="one", description="One.")
    two = second.add(lambda: 2, name="two", description="Two.")
    backend = PythonBackend(first, second)
    assert (run(backend.call(one, {})), run(backend.call(two, {}))) == (1, 2)
    with pytest.raises(ToolCallError) as info:
        run(first.backend().call(two, {}))
    assert info.value.kind == "not_found"
    assert "no python function is registered" in str(info.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param((1, "a"), [1, "a"], id="tuple"),
        pytest.param({"d": dt.datetime(2024, 5, 6, 7, 8)}, {"d": "2024-05-06T07:08:00"}, id="datetime"),
        pytest.param({1: frozenset({"x"})}, {"1": ["x"]}, id="keys-and-frozenset"),
    ],
)
def test_to_json(value: Any, expected: Any) -> None:
    assert to_json(value) == expected


def test_to_json_refuses_other_objects() -> None:
    with pytest.raises(TypeError, match="not JSON"):
        to_json(object())
