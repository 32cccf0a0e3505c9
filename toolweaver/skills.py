"""Skills: programs that worked, saved under a name so they can be found and called like tools.

A skill is stored as a catalog Tool with backend ``skill``: it is searched with the rest of the
catalog and versioned with it. ``backend_config`` holds the code and a version number that grows
with every save. When called, the code runs in the sandbox with the call's arguments in ``args``.
"""

from __future__ import annotations

import json
from typing import Any

from toolweaver.catalog.model import Tool, empty_parameters
from toolweaver.errors import ToolNotFoundError

SKILL_TAG = "skill"
MAX_CODE_CHARS = 64 * 1024


def skill_tool(
    name: str,
    *,
    description: str,
    code: str,
    parameters: dict[str, Any] | None = None,
    tags: list[str] | None = None,
    previous: Tool | None = None,
) -> Tool:
    """The Tool that stores a skill; its version is one more than ``previous``'s."""
    version = int(previous.backend_config.get("version", 0)) + 1 if previous is not None else 1
    return Tool(
        name=name,
        description=description,
        parameters=parameters or empty_parameters(),
        tags=tuple(dict.fromkeys([*(tags or []), SKILL_TAG])),
        backend="skill",
        backend_config={"code": code, "version": version},
    )


def skill_view(tool: Tool) -> dict[str, Any]:
    """How the API shows a skill."""
    if tool.backend != "skill":
        raise ToolNotFoundError(f"{tool.name!r} is a tool, not a skill: GET /api/tools/{tool.name} shows it")
    return {
        "name": tool.name,
        "description": tool.description,
        "parameters": tool.parameters,
        "tags": [t for t in tool.tags if t != SKILL_TAG],
        "code": tool.backend_config.get("code", ""),
        "version": tool.backend_config.get("version", 1),
    }


def program_for(tool: Tool, arguments: dict[str, Any]) -> str:
    """The skill's code with its arguments bound to ``args``.

    The arguments travel as a JSON text inside a string literal and are parsed in the sandbox:
    JSON string escapes are valid Python escapes, so no argument can end the literal early.
    """
    literal = json.dumps(json.dumps(arguments))
    return f"import json\nargs = json.loads({literal})\n{tool.backend_config.get('code', '')}"
