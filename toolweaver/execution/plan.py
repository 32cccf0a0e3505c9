"""Plans: a DAG of tool calls and programs, validated against the catalog before anything runs.

    {"steps": [{"id": "s1", "tool": "name", "arguments": {...}, "depends_on": ["s0"]},
               {"id": "p", "program": "result = await tool_x(a=1)", "depends_on": ["s1"]}],
     "output": "p"}

An argument ``{"$ref": "s1"}`` or ``{"$ref": "s1.path.to.field"}`` (``s1.items[0].name`` works too),
anywhere inside the arguments, stands for that part of an earlier step's output and makes ``s1``
a dependency. A program step's code sees its resolved arguments as ``args`` and its dependencies'
outputs as ``inputs``; it calls the tools its code names (or the step's ``tools`` list).
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from toolweaver.catalog.model import Catalog, Tool
from toolweaver.errors import PlanValidationError
from toolweaver.execution.ports import ToolCallError
from toolweaver.execution.untrusted_code import UnparsableCode, parse_untrusted
from toolweaver.execution.validation import argument_problems

MAX_STEPS = 200
MAX_PROGRAM_CHARS = 64 * 1024
STEP_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]{0,63}$")
_REF_PART = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
_PLAN_KEYS = ("steps", "output", "id", "description")
_STEP_KEYS = ("id", "tool", "program", "arguments", "depends_on", "tools", "description")
_KEY_ONLY_VALIDATORS = frozenset({"required", "additionalProperties", "unevaluatedProperties"})

RefPath = tuple[str, ...]
Fail = Callable[[str], None]


@dataclass(frozen=True)
class Step:
    id: str
    tool: str | None = None
    program: str | None = None
    arguments: Mapping[str, Any] | None = None
    depends_on: tuple[str, ...] = ()  # declared and implied by $refs, in plan order
    tools: tuple[str, ...] = ()  # program steps: the tools the program may call

    @property
    def is_program(self) -> bool:
        return self.program is not None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": self.id}
        if self.tool is not None:
            data["tool"] = self.tool
        if self.program is not None:
            data["program"] = self.program
            data["tools"] = list(self.tools)
        data["arguments"] = dict(self.arguments or {})
        data["depends_on"] = list(self.depends_on)
        return data


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    output: str | None = None
    id: str | None = None  # the caller's id for the plan (e.g. a job id): idempotency keys use it

    def step(self, step_id: str) -> Step:
        return next(step for step in self.steps if step.id == step_id)

    @property
    def result_step(self) -> str:
        """The step whose output is the plan's result: ``output``, or else the last step."""
        return self.output or self.steps[-1].id

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"steps": [step.to_dict() for step in self.steps]}
        if self.output is not None:
            data["output"] = self.output
        if self.id is not None:
            data["id"] = self.id
        return data


def parse_ref(text: str) -> tuple[str, RefPath] | None:
    """``"s1.items[0].name"`` -> ``("s1", ("items", "0", "name"))``; None when not a step reference."""
    head, _, rest = text.partition(".")
    bracket = head.find("[")
    if bracket > 0:
        head, rest = head[:bracket], head[bracket:] + ("." + rest if rest else "")
    if not STEP_ID.match(head):
        return None
    parts: list[str] = []
    for piece in rest.split(".") if rest else []:
        matches = list(_REF_PART.finditer(piece))
        if not piece or "".join(m.group(0) for m in matches) != piece:
            return None
        parts.extend(m.group(1) or m.group(2) for m in matches)
    return head, tuple(parts)


def find_refs(value: Any, path: tuple[str | int, ...] = ()) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every ``{"$ref": "..."}`` inside ``value``: (where in the arguments, the reference text)."""
    if isinstance(value, Mapping):
        ref = value.get("$ref")
        if len(value) == 1 and isinstance(ref, str) and parse_ref(ref) is not None:
            yield path, ref
            return
        for key, item in value.items():
            yield from find_refs(item, (*path, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from find_refs(item, (*path, index))


def validate_plan(plan: Any, catalog: Catalog) -> Plan:
    """Check ``plan`` (a dict: an LLM's JSON) against ``catalog``; PlanValidationError lists every problem."""
    problems: list[str] = []
    raw_steps = _raw_steps(plan, problems)
    ids = [step.get("id") for step in raw_steps]
    steps = [_step(i, raw, ids, catalog, problems) for i, raw in enumerate(raw_steps)]
    built = [step for step in steps if step is not None]
    output, plan_id = plan.get("output"), plan.get("id")
    if output is not None and output not in ids:
        problems.append(f"output {output!r} names no step; use one of the step ids")
    if plan_id is not None and not (isinstance(plan_id, str) and 0 < len(plan_id) <= 200):
        problems.append("'id' must be a string of 1-200 characters")
    if not problems:
        cycle = find_cycle(built)
        if cycle:
            problems.append(
                "the steps depend on each other in a cycle (each needs the next): " + " -> ".join(cycle)
            )
    if problems:
        raise PlanValidationError(problems)
    return Plan(tuple(built), output, plan_id)


def _raw_steps(plan: Any, problems: list[str]) -> list[Mapping[str, Any]]:
    if not isinstance(plan, Mapping):
        problems.append(f'a plan must be an object like {{"steps": [...]}}, got {type(plan).__name__}')
        raise PlanValidationError(problems)
    unknown = [str(key) for key in plan if key not in _PLAN_KEYS]
    if unknown:
        problems.append(f"unknown plan key {unknown[0]!r}; valid keys are {', '.join(_PLAN_KEYS)}")
    steps = plan.get("steps")
    if not isinstance(steps, list) or not steps:
        problems.append('"steps" must be a non-empty list of steps')
        raise PlanValidationError(problems)
    if len(steps) > MAX_STEPS:
        problems.append(f"the plan has {len(steps)} steps; at most {MAX_STEPS} are allowed")
    valid: list[Mapping[str, Any]] = []
    seen: set[str] = set()
    for i, step in enumerate(steps):
        if not isinstance(step, Mapping):
            problems.append(f"step #{i + 1} must be an object, got {type(step).__name__}")
            continue
        step_id = step.get("id")
        if not isinstance(step_id, str) or not STEP_ID.match(step_id):
            problems.append(
                f"step #{i + 1}: 'id' must be 1-64 letters, digits, '_' or '-', starting with a letter"
            )
            continue
        if step_id in seen:
            problems.append(f"step {step_id!r}: the id is used twice; step ids must be unique")
            continue
        seen.add(step_id)
        valid.append(step)
    return valid


def _step(
    index: int, raw: Mapping[str, Any], ids: list[Any], catalog: Catalog, problems: list[str]
) -> Step | None:
    step_id = str(raw["id"])
    count = len(problems)

    def fail(problem: str) -> None:
        problems.append(f"step {step_id!r}: {problem}")

    unknown = [str(key) for key in raw if key not in _STEP_KEYS]
    if unknown:
        fail(f"unknown key {unknown[0]!r}; valid keys are {', '.join(_STEP_KEYS)}")
    if ("tool" in raw) == ("program" in raw):
        fail("give exactly one of 'tool' (a tool name) or 'program' (Python code)")
        return None
    arguments = raw.get("arguments", {})
    if not isinstance(arguments, Mapping):
        fail(f"'arguments' must be an object, got {type(arguments).__name__}")
        arguments = {}
    depends_on = _dependencies(step_id, raw.get("depends_on", []), arguments, ids, fail)
    if "tool" in raw:
        tool = _tool(raw["tool"], catalog, fail)
        if tool is not None:
            _check_arguments(tool, arguments, fail)
        step = Step(id=step_id, tool=str(raw["tool"]), arguments=dict(arguments), depends_on=depends_on)
    else:
        tools = _program_tools(raw, catalog, fail)
        step = Step(
            id=step_id,
            program=str(raw["program"]),
            arguments=dict(arguments),
            depends_on=depends_on,
            tools=tools,
        )
    return step if len(problems) == count else None


def _dependencies(
    step_id: str, declared: Any, arguments: Mapping[str, Any], ids: list[Any], fail: Fail
) -> tuple[str, ...]:
    if not isinstance(declared, list) or not all(isinstance(dep, str) for dep in declared):
        fail("'depends_on' must be a list of step ids")
        declared = []
    needed = list(declared)
    for where, ref in find_refs(arguments):
        target = parse_ref(ref)
        if target is not None:
            needed.append(target[0])
            if target[0] not in ids:
                fail(f"$ref {ref!r} at {_where(where)} names no step")
    known = [i for i in ids if isinstance(i, str)]
    for dep in dict.fromkeys(declared):
        if dep not in ids:
            fail(f"depends on {dep!r}, which is not a step{_close(dep, known)}")
    if step_id in needed:
        fail("a step cannot depend on itself or refer to its own output")
    order = {step: i for i, step in enumerate(ids)}
    return tuple(sorted({dep for dep in needed if dep in order and dep != step_id}, key=order.__getitem__))


def _tool(name: Any, catalog: Catalog, fail: Fail) -> Tool | None:
    if not isinstance(name, str):
        fail(f"'tool' must be a tool name, got {type(name).__name__}")
        return None
    tool = catalog.find(name)
    if tool is None:
        fail(f"unknown tool {name!r}{_close(name, catalog.names)}")
    return tool


def _check_arguments(tool: Tool, arguments: Mapping[str, Any], fail: Fail) -> None:
    """Schema problems, except those a $ref hides: its value is only known when the plan runs."""
    ref_paths = [where for where, _ in find_refs(arguments)]

    def hidden(error: Any) -> bool:
        path = tuple(str(part) if not isinstance(part, int) else part for part in error.absolute_path)
        for ref in ref_paths:
            if path[: len(ref)] == ref:
                return True  # the ref itself, or inside it
            if ref[: len(path)] == path and error.validator not in _KEY_ONLY_VALIDATORS:
                return True  # a container whose value depends on the ref; missing keys still count
        return False

    try:
        problems = argument_problems(tool, arguments, skip=hidden)
    except ToolCallError as exc:
        fail(str(exc))
        return
    for problem in problems:
        fail(f"arguments for {tool.name!r}: {problem}")


def _program_tools(raw: Mapping[str, Any], catalog: Catalog, fail: Fail) -> tuple[str, ...]:
    code = raw["program"]
    if not isinstance(code, str) or not code.strip():
        fail("'program' must be non-empty Python code")
        return ()
    if len(code) > MAX_PROGRAM_CHARS:
        fail(f"the program is {len(code)} characters; at most {MAX_PROGRAM_CHARS} are allowed")
        return ()
    try:
        tree = parse_untrusted(code)  # a tree, never code: syntax errors surface now
    except UnparsableCode as exc:
        if exc.syntax:
            fail(f"the program has a syntax error at line {exc.line}: {exc.message}")
        else:
            fail(f"the program cannot be parsed here: {exc.reason}")
        return ()
    listed = raw.get("tools")
    if listed is not None:
        if not isinstance(listed, list) or not all(isinstance(name, str) for name in listed):
            fail("'tools' must be a list of tool names")
            return ()
        for name in listed:
            if name not in catalog:
                fail(f"unknown tool {name!r} in 'tools'{_close(name, catalog.names)}")
        return tuple(dict.fromkeys(listed))
    return tuple(name for name in dict.fromkeys(_names_in(tree)) if name in catalog)


def tools_used(code: str, catalog: Catalog) -> tuple[str, ...]:
    """The catalog tools a program names (``echo(...)`` or ``call_tool("x.y", ...)``), in order.

    Only these become stubs in the sandbox, so a 10,000-tool catalog costs a run nothing.
    A program that does not parse uses none; the sandbox reports its syntax error.
    """
    try:
        tree = parse_untrusted(code)
    except UnparsableCode:
        return ()
    return tuple(name for name in dict.fromkeys(_names_in(tree)) if name in catalog)


def _names_in(tree: ast.AST) -> Iterator[str]:
    """Names the code uses, and literal tool names passed to ``call_tool("name", ...)``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            yield node.id
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "call_tool"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            yield node.args[0].value


def find_cycle(steps: list[Step]) -> list[str]:
    """One dependency cycle as ``[a, b, ..., a]``, or [] when the steps form a DAG."""
    deps = {step.id: step.depends_on for step in steps}
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        path.append(node)
        for dep in deps.get(node, ()):
            if state.get(dep) == 1:
                return [*path[path.index(dep) :], dep]
            if dep not in state and (found := visit(dep)):
                return found
        path.pop()
        state[node] = 2
        return []

    for step in steps:
        if step.id not in state and (found := visit(step.id)):
            return found
    return []


def _where(path: tuple[str | int, ...]) -> str:
    return "arguments" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)


def _close(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    return f"; did you mean {', '.join(map(repr, close))}?" if close else ""
