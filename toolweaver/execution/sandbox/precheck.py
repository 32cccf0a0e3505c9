"""An AST check that turns obviously hostile or unsupported programs away early, with a line.

It is a courtesy, not a boundary: the child process (rlimits, seccomp, no environment, no
descriptors) is what contains a program. Language-level filters have been escaped many times,
and this one surely can be too; it exists so that the common mistake or probe gets a readable
``rejected`` with a line number instead of a ``PermissionError`` from deep inside the child.

Refused: dunder names and attributes (but ``__name__``, ``obj.__init__`` and ``obj.__name__``,
and defining dunder methods, which classes need); attributes that reach frames, code, the MRO
or modules that re-export ``os``/``sys``; underscore attributes except on ``self``/``cls``;
``eval``, ``exec``, ``compile``, ``open``, ``globals``, ``locals``, ``vars``, ``input``, ``help``,
``breakpoint``; ``getattr``/``setattr``/``delattr``/``hasattr`` unless called with a constant,
allowed attribute name; format strings whose fields reach such attributes; imports outside a
small list of pure modules; relative and star imports; match patterns on such attributes.
"""

from __future__ import annotations

import ast
import string
from collections.abc import Iterator
from dataclasses import dataclass

from toolweaver.execution.untrusted_code import UnparsableCode, parse_untrusted

MAX_CODE_CHARS = 100_000

ALLOWED_MODULES = frozenset(
    {
        "math", "json", "re", "datetime", "statistics", "itertools", "functools", "collections",
        "collections.abc", "random", "string", "decimal", "fractions", "asyncio",
    }
)  # fmt: skip
ALLOWED_DUNDER_NAMES = frozenset({"__name__"})
ALLOWED_DUNDER_ATTRIBUTES = frozenset({"__init__", "__name__"})
FORBIDDEN_ATTRIBUTES = frozenset(
    {
        # frames, code objects, tracebacks, generators, coroutines
        "gi_frame", "gi_code", "gi_yieldfrom", "cr_frame", "cr_code", "cr_await", "cr_origin",
        "ag_frame", "ag_code", "ag_await", "tb_frame", "tb_next", "f_back", "f_globals",
        "f_locals", "f_builtins", "f_code", "f_trace", "co_code", "co_consts", "co_names",
        "func_globals", "func_code", "im_func", "im_self",
        # the class graph and attribute access by computed name
        "mro", "get_field", "format_map",
        # modules reachable as attributes of allowed ones (asyncio.base_events.os, ...)
        "os", "sys", "posix", "subprocess", "socket", "ssl", "signal", "threading", "selectors",
        "builtins", "importlib", "ctypes", "inspect", "traceback", "logging", "warnings",
        "weakref", "types", "io", "gc", "pickle", "marshal", "shutil", "tempfile", "resource",
        "sys_modules", "modules", "linecache", "tokenize", "concurrent", "multiprocessing",
        "codecs",
        # asyncio entry points to processes, sockets and threads
        "create_subprocess_exec", "create_subprocess_shell", "open_connection", "start_server",
        "open_unix_connection", "start_unix_server", "to_thread", "run_in_executor",
        "new_event_loop", "set_event_loop", "set_event_loop_policy", "add_signal_handler",
        "subprocess_exec", "subprocess_shell", "create_connection", "create_server",
        "create_unix_connection", "create_unix_server", "sock_connect", "getaddrinfo",
    }
)  # fmt: skip
FORBIDDEN_NAMES = frozenset(
    {"eval", "exec", "compile", "open", "globals", "locals", "vars", "input", "help", "breakpoint"}
)
ATTRIBUTE_FUNCTIONS = frozenset({"getattr", "setattr", "delattr", "hasattr"})
SELF_NAMES = frozenset({"self", "cls"})


@dataclass(frozen=True)
class Rejection:
    line: int | None
    reason: str

    def __str__(self) -> str:
        return self.reason if self.line is None else f"line {self.line}: {self.reason}"


def _is_dunder(name: str) -> bool:
    return len(name) > 4 and name.startswith("__") and name.endswith("__")


def attribute_problem(name: str, owner: ast.expr | None = None) -> str | None:
    """Why reading attribute ``name`` (of ``owner``, when known) is refused; None when allowed."""
    if _is_dunder(name):
        if name in ALLOWED_DUNDER_ATTRIBUTES:
            return None
        return f"attribute {name!r} is not allowed (dunder attributes reach interpreter internals)"
    if name in FORBIDDEN_ATTRIBUTES:
        return f"attribute {name!r} is not allowed"
    if name.startswith("_") and not (isinstance(owner, ast.Name) and owner.id in SELF_NAMES):
        return f"private attribute {name!r} is not allowed outside self/cls"
    return None


def _format_fields(text: str, depth: int = 0) -> Iterator[str]:
    """The field names of a format string (nested in format specs too); nothing if not one."""
    if "{" not in text or depth > 2:
        return
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError:
        return
    for _literal, field, spec, _conversion in parsed:
        if field:
            yield field
        if spec:
            yield from _format_fields(spec, depth + 1)


def _field_problem(field: str) -> str | None:
    """A field's argument may be any name; what follows it must not be a refused attribute."""
    first, *rest = field.replace("[", ".").replace("]", ".").split(".")
    if (_is_dunder(first) and first not in ALLOWED_DUNDER_NAMES) or any(
        (_is_dunder(part) and part not in ALLOWED_DUNDER_ATTRIBUTES) or part in FORBIDDEN_ATTRIBUTES
        for part in rest
    ):
        return f"format field {field[:60]!r} is not allowed"
    return None


def _import_problems(node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    if isinstance(node, ast.ImportFrom):
        if node.level:
            yield "relative imports are not allowed"
            return
        if node.module not in ALLOWED_MODULES:
            yield f"import of {node.module!r} is not allowed (allowed: {', '.join(sorted(ALLOWED_MODULES))})"
            return
        for alias in node.names:
            if alias.name == "*":
                yield "star imports are not allowed"
            elif (problem := attribute_problem(alias.name)) is not None:
                yield f"from {node.module} import {alias.name}: {problem}"
        return
    for alias in node.names:
        if alias.name not in ALLOWED_MODULES:
            yield f"import of {alias.name!r} is not allowed (allowed: {', '.join(sorted(ALLOWED_MODULES))})"


def _call_problem(node: ast.Call) -> str | None:
    """getattr & co. only with a constant, allowed attribute name."""
    if not isinstance(node.func, ast.Name) or node.func.id not in ATTRIBUTE_FUNCTIONS:
        return None
    name = node.args[1].value if len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) else None
    if not isinstance(name, str):
        return f"{node.func.id}() needs a constant attribute name"
    return attribute_problem(name, node.args[0])


def _name_problem(node: ast.Name, calls: set[int]) -> str | None:
    if _is_dunder(node.id) and node.id not in ALLOWED_DUNDER_NAMES:
        return f"name {node.id!r} is not allowed (dunder names reach interpreter internals)"
    if node.id in FORBIDDEN_NAMES:
        return f"{node.id!r} is not allowed"
    if node.id in ATTRIBUTE_FUNCTIONS and id(node) not in calls:
        return f"{node.id!r} may only be called directly, with a constant attribute name"
    return None


def _node_problems(node: ast.AST, calls: set[int]) -> Iterator[str | None]:
    if isinstance(node, ast.Attribute):
        yield attribute_problem(node.attr, node.value)
    elif isinstance(node, ast.Name):
        yield _name_problem(node, calls)
    elif isinstance(node, ast.Call):
        yield _call_problem(node)
    elif isinstance(node, ast.Import | ast.ImportFrom):
        yield from _import_problems(node)
    elif isinstance(node, ast.Constant) and isinstance(node.value, str):
        yield from (_field_problem(field) for field in _format_fields(node.value))
    elif isinstance(node, ast.MatchClass):
        for name in node.kwd_attrs:
            problem = attribute_problem(name)
            yield None if problem is None else f"match pattern: {problem}"


def precheck(code: str) -> Rejection | None:
    """The first problem in ``code`` (by position), or None when it may run."""
    if len(code) > MAX_CODE_CHARS:
        return Rejection(None, f"the program is {len(code)} characters, over {MAX_CODE_CHARS}")
    try:
        tree = parse_untrusted(code)
    except UnparsableCode as exc:
        return Rejection(exc.line, exc.reason)
    nodes = list(ast.walk(tree))
    # getattr & co. are checked at their call; a bare reference to them is refused
    calls = {
        id(node.func)
        for node in nodes
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        and node.func.id in ATTRIBUTE_FUNCTIONS
    }  # fmt: skip
    found: list[tuple[int, int, str]] = []
    for node in nodes:
        for problem in _node_problems(node, calls):
            if problem is not None:
                found.append((getattr(node, "lineno", 0), getattr(node, "col_offset", 0), problem))
    if not found:
        return None
    line, _col, reason = min(found)
    return Rejection(line or None, reason)
