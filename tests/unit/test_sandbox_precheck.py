"""The sandbox's AST pre-check: readable early rejections (the process is the boundary)."""

from __future__ import annotations

import json

import pytest

from toolweaver.execution.sandbox.precheck import MAX_CODE_CHARS, precheck

ALLOWED = [
    pytest.param("result = 1 + 1", id="arithmetic"),
    pytest.param("import json, math, re\nresult = json.dumps({'a': math.pi})", id="allowed-imports"),
    pytest.param("from collections import Counter, defaultdict\nimport collections.abc", id="from-import"),
    pytest.param("import asyncio\nresult = await asyncio.gather(echo(x=1), echo(x=2))", id="await-gather"),
    pytest.param(
        "class A:\n    def __init__(self, x):\n        self._x = x\n    def __repr__(self):\n"
        "        return f'A({self._x})'\nclass B(A):\n    def __init__(self):\n"
        "        super().__init__(1)\nresult = repr(B())",
        id="classes-dunder-methods",
    ),
    pytest.param("if __name__ == '__main__':\n    result = type(1).__name__", id="main-guard"),
    pytest.param("result = getattr(obj, 'name', None)", id="getattr-constant"),
    pytest.param("result = '{0} {x:>5} {0.real}'.format(1, x=2)", id="format-fields"),
    pytest.param("result = f'{len(x)!r:>{width}}'", id="f-string"),
    pytest.param(
        "import json\nargs = json.loads(" + json.dumps(json.dumps({"a": {"_id": 1, "b": "{x}"}})) + ")",
        id="json-literal-with-braces",
    ),
    pytest.param("match point:\n    case Point(x=0, y=y):\n        result = y", id="match-class"),
    pytest.param("try:\n    await echo()\nexcept ToolError as e:\n    result = e.kind", id="tool-error"),
]

REJECTED = [
    pytest.param("x = ().__class__", 1, "'__class__'", id="dunder-attribute"),
    pytest.param("a = 1\nb = object.__subclasses__()", 2, "'__subclasses__'", id="subclasses"),
    pytest.param("f = len.__self__", 1, "'__self__'", id="builtins-from-function"),
    pytest.param("g = __builtins__", 1, "'__builtins__'", id="dunder-name"),
    pytest.param("os = __import__('os')", 1, "'__import__'", id="dunder-import"),
    pytest.param("def g():\n    yield\nx = g().gi_frame", 3, "'gi_frame'", id="gi-frame"),
    pytest.param("try:\n    1/0\nexcept Exception as e:\n    t = e.tb_frame", 4, "'tb_frame'", id="tb-frame"),
    pytest.param("c = coro().cr_frame", 1, "'cr_frame'", id="cr-frame"),
    pytest.param("x = frame.f_back.f_globals", 1, "'f_back'", id="f-back"),
    pytest.param("m = int.mro()", 1, "'mro'", id="mro"),
    pytest.param("s = '{0.__class__}'.format(1)", 1, "format field", id="format-dunder"),
    pytest.param("s = '{0:{1.__class__}}'.format(1, 2)", 1, "format field", id="format-nested-spec"),
    pytest.param("s = '{x.f_globals}'.format(x=1)", 1, "format field", id="format-frame"),
    pytest.param("s = f'{x.__class__}'", 1, "'__class__'", id="f-string-dunder"),
    pytest.param("s = '{a}'.format_map(d)", 1, "'format_map'", id="format-map"),
    pytest.param("import os", 1, "import of 'os'", id="import-os"),
    pytest.param("import sys as s", 1, "import of 'sys'", id="import-sys"),
    pytest.param("from subprocess import run", 1, "'subprocess'", id="from-subprocess"),
    pytest.param("import importlib", 1, "import of 'importlib'", id="importlib"),
    pytest.param("import ctypes", 1, "import of 'ctypes'", id="ctypes"),
    pytest.param("import pickle", 1, "import of 'pickle'", id="pickle"),
    pytest.param("from . import x", 1, "relative", id="relative-import"),
    pytest.param("from math import *", 1, "star", id="star-import"),
    pytest.param("from asyncio import subprocess", 1, "'subprocess'", id="from-asyncio-subprocess"),
    pytest.param("import collections\ns = collections._sys", 2, "private attribute", id="private-module"),
    pytest.param("import asyncio\nsock = asyncio.base_events.socket", 2, "'socket'", id="reexported-socket"),
    pytest.param("import json\nf = json.codecs.open", 2, "'codecs'", id="reexported-codecs"),
    pytest.param("data = open('/etc/passwd').read()", 1, "'open'", id="open"),
    pytest.param("eval('1')", 1, "'eval'", id="eval"),
    pytest.param("exec('x = 1')", 1, "'exec'", id="exec"),
    pytest.param("c = compile('1', 'f', 'eval')", 1, "'compile'", id="compile"),
    pytest.param("g = globals()", 1, "'globals'", id="globals"),
    pytest.param("v = vars(object)", 1, "'vars'", id="vars"),
    pytest.param(
        "d = '_' * 2\nx = getattr((), d + 'class' + d)", 2, "constant attribute", id="getattr-computed"
    ),
    pytest.param("x = getattr((), '__class__')", 1, "'__class__'", id="getattr-dunder"),
    pytest.param("g = getattr\nx = g((), 'real')", 1, "called directly", id="getattr-alias"),
    pytest.param("import asyncio\nawait asyncio.to_thread(print)", 2, "'to_thread'", id="to-thread"),
    pytest.param(
        "import asyncio\nawait asyncio.open_connection('h', 1)", 2, "'open_connection'", id="open-connection"
    ),
    pytest.param(
        "match x:\n    case object(__class__=c):\n        pass", 2, "match pattern", id="match-dunder"
    ),
]


@pytest.mark.parametrize("code", ALLOWED)
def test_allowed_programs_pass(code: str) -> None:
    assert precheck(code) is None


@pytest.mark.parametrize(("code", "line", "fragment"), REJECTED)
def test_refused_programs_name_the_line_and_the_reason(code: str, line: int, fragment: str) -> None:
    rejection = precheck(code)
    assert rejection is not None
    assert rejection.line == line
    assert fragment in rejection.reason
    assert str(rejection).startswith(f"line {line}: ")


def test_the_first_problem_by_position_is_reported() -> None:
    rejection = precheck("x = 1\nimport os\ny = ().__class__")
    assert rejection is not None and rejection.line == 2


def test_syntax_errors_are_rejected_with_their_line() -> None:
    rejection = precheck("x = 1\ndef broken(:\n    pass")
    assert rejection is not None and rejection.line == 2
    assert "syntax error" in rejection.reason


@pytest.mark.parametrize(
    "code",
    [
        pytest.param("x = 1\0", id="null-byte"),
        pytest.param("x = " + "(" * 500 + ")" * 500, id="deep-parentheses"),
        pytest.param("x = " + "-" * 90_000 + "1", id="deep-unary"),
        pytest.param("x = " + "+".join(["1"] * 30_000), id="long-chain"),
        pytest.param("x = " + "[" * 100 + "]" * 100 + "\n" * MAX_CODE_CHARS, id="too-long"),
    ],
)
def test_hostile_sources_are_rejected_without_raising(code: str) -> None:
    rejection = precheck(code)
    assert rejection is not None
    assert rejection.reason
