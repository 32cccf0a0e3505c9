"""Route templates as the Functions host reads them (ASP.NET Core routing), compiled once at start.

Supported: literal segments (matched case-insensitively), ``{name}``, optional ``{name?}``, defaults
``{name=value}``, catch-all ``{*rest}``, constraints ``{id:guid}``, ``{n:int}``, ``{x:alpha}`` and the
like. A constraint this module does not know (``length(3)``, ``regex(...)``) matches like a plain
segment rather than failing the whole app.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

_HEX = "[0-9a-fA-F]"
_CONSTRAINTS: Mapping[str, str] = {
    "int": r"-?\d+",
    "long": r"-?\d+",
    "float": r"-?\d+(?:\.\d+)?",
    "double": r"-?\d+(?:\.\d+)?",
    "decimal": r"-?\d+(?:\.\d+)?",
    "bool": r"(?:true|false)",
    "alpha": r"[A-Za-z]+",
    "guid": rf"\{{?{_HEX}{{8}}-?(?:{_HEX}{{4}}-?){{3}}{_HEX}{{12}}\}}?",
}
_PLAIN = r"[^/]+"
# Segment ranks for precedence, best first: the host prefers literal segments to parameters.
_LITERAL, _COMPLEX, _CONSTRAINED, _PARAM, _OPTIONAL, _CATCH_ALL = range(6)


@dataclass(frozen=True)
class _Param:
    name: str
    pattern: str
    optional: bool
    default: str | None
    catch_all: bool
    constrained: bool


def _parse_param(spec: str) -> _Param:
    catch_all = spec.startswith("*")
    spec = spec.lstrip("*")
    default: str | None = None
    if "=" in spec:
        spec, default = spec.split("=", 1)
    optional = catch_all or default is not None or spec.endswith("?")
    spec = spec.rstrip("?")
    name, *constraints = spec.split(":")
    pattern = ".*" if catch_all else _PLAIN
    for constraint in constraints:
        known = _CONSTRAINTS.get(constraint.strip().lower())
        if known is not None:
            pattern = known
            break
    return _Param(name.strip(), pattern, optional, default, catch_all, bool(constraints))


@dataclass(frozen=True)
class RouteTemplate:
    """One compiled template: ``match(path)`` gives the route parameters or None."""

    template: str
    regex: re.Pattern[str]
    names: tuple[str, ...]
    defaults: Mapping[str, str]
    rank: tuple[int, ...]

    @classmethod
    def compile(cls, template: str, prefix: str = "") -> RouteTemplate:
        segments = [s for s in f"{prefix.strip('/')}/{template.strip('/')}".split("/") if s]
        parts: list[str] = []
        names: list[str] = []
        defaults: dict[str, str] = {}
        rank: list[int] = []
        for segment in segments:
            pattern, seg_rank = _compile_segment(segment, names, defaults)
            parts.append(pattern)
            rank.append(seg_rank)
        regex = re.compile("^" + "".join(parts) + "/?$", re.IGNORECASE)
        return cls(template, regex, tuple(names), defaults, tuple(rank))

    def match(self, path: str) -> dict[str, str] | None:
        found = self.regex.match(path)
        if found is None:
            return None
        params = dict(self.defaults)
        for index, value in enumerate(found.groups()):
            if value is not None and value != "":
                params[self.names[index]] = value
        return params


def _tokens(segment: str) -> list[tuple[bool, str]]:
    """Split a segment into (is_parameter, text) pieces; ``{{`` and ``}}`` are escaped braces."""
    tokens: list[tuple[bool, str]] = []
    text: list[str] = []
    inside = False
    i = 0
    while i < len(segment):
        char = segment[i]
        if char in "{}" and segment[i : i + 2] == char * 2:
            text.append(char)
            i += 2
            continue
        if char == ("}" if inside else "{"):
            if text or inside:
                tokens.append((inside, "".join(text)))
            text, inside = [], not inside
        else:
            text.append(char)
        i += 1
    if text:
        # An unclosed brace: keep it as literal text rather than refuse the route.
        tokens.append((False, ("{" if inside else "") + "".join(text)))
    return tokens


def _compile_segment(segment: str, names: list[str], defaults: dict[str, str]) -> tuple[str, int]:
    """The regex for one path segment, with its leading slash, and its precedence rank."""
    tokens = _tokens(segment)
    if len(tokens) == 1 and tokens[0][0]:
        param = _parse_param(tokens[0][1])
        group = _group(param, names, defaults)
        if param.optional:
            return f"(?:/{group})?", _CATCH_ALL if param.catch_all else _OPTIONAL
        return "/" + group, _CONSTRAINED if param.constrained else _PARAM
    pieces: list[str] = []
    for is_param, text in tokens:
        if not is_param:
            pieces.append(re.escape(text))
            continue
        param = _parse_param(text)
        group = _group(param, names, defaults)
        pieces.append(f"{group}?" if param.optional else group)
    complex_segment = any(is_param for is_param, _ in tokens)
    return "/" + "".join(pieces), _COMPLEX if complex_segment else _LITERAL


def _group(param: _Param, names: list[str], defaults: dict[str, str]) -> str:
    # Generated group names: route parameter names need not be valid Python identifiers.
    names.append(param.name)
    if param.default is not None:
        defaults[param.name] = param.default
    return f"(?P<p{len(names) - 1}>{param.pattern})"


@dataclass(frozen=True)
class Route(Generic[T]):
    template: RouteTemplate
    methods: frozenset[str] | None  # None: every method
    target: T


@dataclass(frozen=True)
class RouteMatch(Generic[T]):
    target: T
    params: dict[str, str]


@dataclass(frozen=True)
class MethodNotAllowed:
    allowed: tuple[str, ...]


class Router(Generic[T]):
    """Routes in the host's precedence order; the first template that matches with the method wins."""

    def __init__(self, routes: Iterable[Route[T]]) -> None:
        self._routes = sorted(routes, key=lambda r: r.template.rank)

    def match(self, method: str, path: str) -> RouteMatch[T] | MethodNotAllowed | None:
        allowed: set[str] = set()
        for route in self._routes:
            params = route.template.match(path)
            if params is None:
                continue
            if route.methods is None or method in route.methods:
                return RouteMatch(route.target, params)
            allowed.update(route.methods)
        return MethodNotAllowed(tuple(sorted(allowed))) if allowed else None
