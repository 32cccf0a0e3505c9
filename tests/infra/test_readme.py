"""README "Deploy to Azure" matches the templates: names, variables, outputs, roles and defaults."""

from __future__ import annotations

import json
import re

import pytest

from tests.infra.bicep import INFRA, REPO, Template, function
from tests.infra.test_templates import ROLES, role_id

SECTION = "## Deploy to Azure"


@pytest.fixture(scope="module")
def section() -> str:
    text = REPO.joinpath("README.md").read_text(encoding="utf-8")
    assert text.count(SECTION) == 1
    body = text.split(SECTION, 1)[1]
    return body.split("\n## ", 1)[0]


@pytest.fixture(scope="module")
def azd_variables() -> dict[str, tuple[str, str | None]]:
    """azd variable -> (main.bicep parameter, default in main.parameters.json)."""
    parameters = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    variables = {}
    for parameter, entry in parameters.items():
        match = re.fullmatch(r"\$\{(\w+)(?:=([^}]*))?\}", entry["value"])
        assert match
        variables[match[1]] = (parameter, match[2])
    return variables


def test_every_name_in_capitals_is_real(
    section: str,
    main: Template,
    app_settings: dict[str, object],
    azd_variables: dict[str, tuple[str, str | None]],
) -> None:
    example = json.loads((REPO / "local.settings.json.example").read_text(encoding="utf-8"))["Values"]
    known = set(main.outputs) | set(azd_variables) | set(app_settings) | set(example)
    named = set(re.findall(r"`<?([A-Z][A-Z0-9_]{3,}(?:__\w+)?)>?`", section))
    named |= set(re.findall(r"<([A-Z][A-Z0-9_]{3,})>", section))
    assert named, "no names found: the pattern no longer fits the README"
    assert named - known == set()


def test_the_variables_table_matches_the_parameters_file(
    section: str, azd_variables: dict[str, tuple[str, str | None]]
) -> None:
    rows = re.findall(r"^\| `(\w+)` \| ([^|]+) \|", section, flags=re.MULTILINE)
    table = {name: default.strip().strip("`") for name, default in rows if name in azd_variables}
    documented = {name for name, (_, default) in azd_variables.items() if default is not None}
    assert set(table) == documented
    for name, default in table.items():
        assert (default if default != "empty" else "") == azd_variables[name][1], name


def test_resource_names(section: str, main: Template) -> None:
    names = [module.params["name"] for module in main.modules() if "name" in module.params]
    names += [main.module("functionApp").params["planName"]]
    names += [
        main.module("monitoring").params[key] for key in ("logAnalyticsName", "applicationInsightsName")
    ]
    names += [main.resource("rg").get("name")]
    shown = set()
    for name in names:
        if isinstance(name, str):
            shown.add(name.replace("${resourceToken}", "<token>"))
        else:  # empty(resourceGroupName) ? 'rg-${environmentName}' : resourceGroupName
            shown.add(
                name["operator"]["operands"]["true_value"].replace("${environmentName}", "<environment>")
            )
    table = section.split("| resource | name | configuration |\n|---|---|---|\n", 1)[1].split("\n\n", 1)[0]
    listed = {name for row in table.splitlines() for name in re.findall(r"`([^`]+)`", row.split(" | ")[1])}
    listed.add("rg-<environment>")  # named in the sentence above the table
    assert shown == listed
    assert "`rg-<environment>`" in section


def test_roles_table_lists_the_roles_assigned(section: str, templates: dict[str, Template]) -> None:
    assigned = set()
    for template in templates.values():
        for assignment in template.resources("Microsoft.Authorization/roleAssignments"):
            assigned.add(ROLES[role_id(template, assignment.get("properties", "roleDefinitionId"))[1]])
    table = section.split("| role | on |\n|---|---|\n", 1)[1].split("\n\n", 1)[0]
    documented = {row.split(" | ")[0].removeprefix("| ") for row in table.splitlines()}
    assert documented == assigned


def test_defaults_quoted_in_the_readme(section: str, main: Template, openai: Template) -> None:
    defaults = {name: p.get("default") for name, p in main.parameters.items()}
    assert f"`{defaults['openAiModelName']}` {defaults['openAiModelVersion']}" in section
    assert f"{defaults['openAiDeploymentSku']}, {defaults['openAiCapacity']}K tokens per minute" in section
    assert f'"AZURE_OPENAI_API_VERSION": "{defaults["openAiApiVersion"]}"' in section
    assert function(main.variables["resourceToken"]["value"], "to_lower") is not None
    assert openai.only("Microsoft.CognitiveServices/accounts").get("properties", "disableLocalAuth") is True
