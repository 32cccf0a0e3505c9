"""Parsing code that callers or models wrote, in the app's own process, under bounds checked first.

CPython's parser and AST builder recurse: 60,000 unary minus signs (``x=------...1``, well under
the 64 KiB program cap) make ``compile`` raise MemoryError, and long chains of ``not``, ``await``
or brackets do the same or worse. So before anything parses such code here, a linear scan with
``tokenize`` (which does not recurse) measures bracket depth and runs of prefix operators, and
refuses code past sane bounds; whatever still fails to parse is caught and becomes a reason.
The sandbox child is the only place such code ever runs.
"""

from __future__ import annotations

import ast
import io
import tokenize
from typing import Literal

MAX_NESTING = 100  # brackets open at once (CPython's own limit is 200)
MAX_PREFIX_RUN = 100  # unary operators, not, await, lambda in a row
_PREFIX_OPERATORS = frozenset({"-", "+", "~", "*", "**"})
_PREFIX_WORDS = frozenset({"not", "await", "lambda", "yield"})
_PARSE_FLAGS = ast.PyCF_ONLY_AST | ast.PyCF_ALLOW_TOP_LEVEL_AWAIT


class UnparsableCode(ValueError):
    """Code that may not or cannot be parsed here; ``line`` is where, when known."""

    def __init__(self, reason: str, line: int | None = None, *, syntax: bool = False) -> None:
        super().__init__(f"syntax error: {reason}" if syntax else reason)
        self.reason = str(self)
        self.message = reason  # without the "syntax error: " prefix
        self.line = line
        self.syntax = syntax


def bounds_problem(code: str) -> UnparsableCode | None:
    """Why ``code`` is too deeply nested to parse here, or None (tokenizer errors are the parser's)."""
    depth = run = 0
    try:
        for token in tokenize.generate_tokens(io.StringIO(code).readline):
            text = token.string
            if token.type == tokenize.OP and text in "([{":
                depth += 1
                if depth > MAX_NESTING:
                    return UnparsableCode(f"brackets nest deeper than {MAX_NESTING}", token.start[0])
            elif token.type == tokenize.OP and text in ")]}":
                depth = max(0, depth - 1)
            if (token.type == tokenize.OP and text in _PREFIX_OPERATORS) or (
                token.type == tokenize.NAME and text in _PREFIX_WORDS
            ):
                run += 1
                if run > MAX_PREFIX_RUN:
                    return UnparsableCode(f"more than {MAX_PREFIX_RUN} operators in a row", token.start[0])
            elif token.type not in (tokenize.NL, tokenize.COMMENT):
                run = 0
    except (tokenize.TokenError, SyntaxError):
        return None  # the parser below reports it with its own message
    return None


def parse_untrusted(code: str, *, mode: Literal["exec", "eval"] = "exec") -> ast.AST:
    """The AST of ``code``; UnparsableCode says why not (syntax, bounds, parser limits)."""
    problem = bounds_problem(code)
    if problem is not None:
        raise problem
    try:
        return compile(code, "<program>", mode, flags=_PARSE_FLAGS, dont_inherit=True)  # type: ignore[no-any-return]
    except SyntaxError as exc:
        raise UnparsableCode(exc.msg, exc.lineno, syntax=True) from None
    except (ValueError, RecursionError, MemoryError) as exc:  # null bytes; limits the scan missed
        raise UnparsableCode(f"the program cannot be parsed ({type(exc).__name__})") from None
