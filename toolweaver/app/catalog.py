"""Changing what the app will call: tools (put, delete, import) and skills (put, delete, rate).

Only operators reach these (the faces check the credential). Every tool is checked against the
operator's policy (``ToolTrust``: hosts, declared secrets and token scopes) before it is stored,
whichever way it comes in, and a skill's code passes the sandbox's pre-check first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from toolweaver.catalog.loaders import catalog_from_document
from toolweaver.catalog.model import Tool
from toolweaver.catalog.openapi import import_openapi
from toolweaver.catalog.store import CatalogStore, CatalogVersion
from toolweaver.errors import CatalogError, RequestError, ToolNotFoundError
from toolweaver.execution.trust import ToolTrust
from toolweaver.observability.metrics import SKILL_HEALTH, SKILL_RATINGS
from toolweaver.skill_health import SkillStats, SkillStatsStore
from toolweaver.skills import skill_tool, skill_view


@dataclass(frozen=True)
class Imported:
    tools: list[Tool]
    format: str  # "openapi" or "catalog"
    version: CatalogVersion


def find_tool(catalog: CatalogStore, name: str) -> Tool:
    """The tool, or a 404 that suggests close names."""
    current = catalog.current().catalog
    tool = current.find(name)
    if tool is None:
        close = current.close_names(name, n=3)
        hint = f"did you mean {', '.join(close)}?" if close else "GET /api/tools lists them"
        raise ToolNotFoundError(f"no tool named {name!r} ({len(current)} tools); {hint}")
    return tool


class CatalogChanges:
    def __init__(
        self,
        catalog: CatalogStore,
        trust: Callable[[], ToolTrust],
        skill_stats: Callable[[], SkillStatsStore],
        check_program: Callable[[str], None],
    ) -> None:
        self._catalog = catalog
        self._trust = trust
        self._skill_stats = skill_stats
        self._check_program = check_program

    def put_tool(self, tool: Tool, *, if_match: str | None) -> tuple[CatalogVersion, bool]:
        self._trust().check(tool)  # 422 naming the field when the operator's policy forbids it
        return self._catalog.put_tool(tool, if_match=if_match)

    def delete_tool(self, name: str, *, if_match: str | None) -> CatalogVersion:
        return self._catalog.delete_tool(name, if_match=if_match)

    def import_document(self, document: Any, *, replace: bool, server_url: str | None) -> Imported:
        """Our catalog format, or an OpenAPI 3 document (one tool per operation)."""
        if isinstance(document, Mapping) and "openapi" in document:
            tools, source = import_openapi(document, server_url=server_url), "openapi"
        else:
            tools, source = list(catalog_from_document("request body", document)), "catalog"
        if not tools and not replace:
            raise CatalogError("the document holds no tools")
        trust = self._trust()
        for tool in tools:
            trust.check(tool)
        return Imported(tools, source, self._catalog.import_tools(tools, replace=replace))

    def put_skill(
        self,
        name: str,
        *,
        description: str,
        code: str,
        parameters: dict[str, Any] | None,
        tags: list[str] | None,
        if_match: str | None,
    ) -> tuple[Tool, CatalogVersion, bool]:
        self._check_program(code)
        previous = self._catalog.current().catalog.find(name)
        if previous is not None and previous.backend != "skill":
            raise ToolNotFoundError(f"{name!r} is a tool, not a skill: choose another name")
        tool = skill_tool(
            name, description=description, code=code, parameters=parameters, tags=tags, previous=previous
        )
        version, created = self._catalog.put_tool(tool, if_match=if_match)
        return tool, version, created

    def delete_skill(self, name: str, *, if_match: str | None) -> CatalogVersion:
        skill_view(find_tool(self._catalog, name))  # 404 unless it is a skill
        version = self._catalog.delete_tool(name, if_match=if_match)
        self._skill_stats().delete(name)  # a new skill of the same name starts afresh
        return version

    def skill(self, name: str) -> tuple[Tool, dict[str, Any]]:
        """The skill's tool and its view with its health."""
        tool = find_tool(self._catalog, name)
        view = skill_view(tool)
        view["health"] = self._health(name, self._skill_stats().get(name))
        return tool, view

    def rate_skill(self, name: str, rating: int) -> dict[str, Any]:
        """One rating, 1 to 5; the skill's new health."""
        if not 1 <= rating <= 5:
            raise RequestError("a rating is a whole number from 1 to 5", status=422)
        skill_view(find_tool(self._catalog, name))  # 404 unless it is a skill
        stats = self._skill_stats().rate(name, rating)
        SKILL_RATINGS.labels(name, str(rating)).inc()
        return self._health(name, stats)

    def _health(self, name: str, stats: SkillStats) -> dict[str, Any]:
        health = stats.health(self._skill_stats().clock())
        SKILL_HEALTH.labels(name).set(health["score"])
        return health
