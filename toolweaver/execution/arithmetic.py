"""Arithmetic on untrusted text without eval: parse with ``ast``, then walk an allow-list.

Only numbers, + - * / ** % //, unary + and -, and parentheses are accepted; names, calls,
attributes, subscripts, comparisons and everything else are refused with a message. Integer
results are capped in size, because Python integers never overflow and ``9 ** 9 ** 9`` would
otherwise compute for minutes.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from toolweaver.execution.untrusted_code import UnparsableCode, parse_untrusted

MAX_EXPRESSION_CHARS = 1000
MAX_INT_BITS = 4096  # 10**1233: large enough for any real sum, small enough to stay instant
_ALLOWED = "use numbers, + - * / ** % // and parentheses"


def evaluate(expression: str) -> int | float:
    """The value of ``expression``; ValueError says what is wrong with it."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ValueError(f"the expression is longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = parse_untrusted(expression.strip(), mode="eval")
    except UnparsableCode:
        raise ValueError(
            "not an arithmetic expression; use numbers, + - * / ** % // and parentheses"
        ) from None
    try:
        value = _evaluate(tree.body)  # type: ignore[attr-defined]  # mode="eval": an ast.Expression
    except RecursionError:
        raise ValueError("the expression is nested too deeply") from None
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("the result is too large to represent")
        # 15 significant digits, as calculators show: 0.1 + 0.2 is 0.3, not 0.30000000000000004.
        value = float(f"{value:.15g}")
    return value


_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}


def _evaluate(node: ast.expr) -> int | float:
    """Walk the parsed expression; anything but numbers and the operators above is refused."""
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    ):
        return node.value
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))  # type: ignore[no-any-return]
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        _check_size(node.op, left, right)
        try:
            return _BINARY[type(node.op)](left, right)  # type: ignore[no-any-return]
        except ZeroDivisionError:
            raise ValueError("division by zero") from None
        except OverflowError:
            raise ValueError("the result is too large to represent") from None
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitXor):
        raise ValueError("'^' is not a power here; write powers as 2 ** 8")
    raise ValueError(f"{type(node).__name__} is not allowed: only numbers, + - * / ** % // and parentheses")


def _check_size(op: ast.operator, left: float, right: float) -> None:
    # Python integers never overflow, so 9 ** 9 ** 9 would compute for minutes: refuse it up front.
    if isinstance(left, int) and isinstance(right, int):
        if isinstance(op, ast.Pow) and right > 0 and max(left.bit_length(), 1) * right > MAX_INT_BITS:
            raise ValueError(f"the result would have more than {MAX_INT_BITS} bits")
        if isinstance(op, ast.Mult) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise ValueError(f"the result would have more than {MAX_INT_BITS} bits")
