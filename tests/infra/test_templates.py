"""The Bicep under infra/, read with pycep-parser: it parses, and it says "no keys" in every place.

Each test reads the parsed templates and asserts one property the deployment relies on: shared
keys off, anonymous access off, TLS 1.2, HTTPS only, soft delete, local auth off, identity-based
app settings, each role assignment's role, principal and scope, and outputs without secrets.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.infra.bicep import (
    INFRA,
    REPO,
    Param,
    Template,
    accessor,
    bicep_files,
    function,
    load,
    lookup,
    walk,
)
from toolweaver.services import JOBS_QUEUE, POISON_QUEUE
from toolweaver.settings import Settings

MODULES = [
    "modules/functionapp.bicep",
    "modules/identity.bicep",
    "modules/monitoring.bicep",
    "modules/openai.bicep",
    "modules/storage.bicep",
]

# Built-in role definition ids (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles).
ROLES = {
    "b7e6dc6d-f1e8-4753-8033-0f276bb0955b": "Storage Blob Data Owner",
    "974c5e8b-45b9-4653-ba55-5f855dd0fb88": "Storage Queue Data Contributor",
    "5e0bd9bd-7b93-4f28-af87-19fc36ad61bd": "Cognitive Services OpenAI User",
    "3913510d-42f4-4e42-8a64-420c390055eb": "Monitoring Metrics Publisher",
}

# (file, symbol, role, type of the resource it is scoped to, principal parameter)
ROLE_ASSIGNMENTS = [
    pytest.param(
        "modules/storage.bicep",
        "appBlobOwner",
        "Storage Blob Data Owner",
        "Microsoft.Storage/storageAccounts",
        "appPrincipalId",
        id="app-storage-blob-owner",
    ),
    pytest.param(
        "modules/storage.bicep",
        "appQueueContributor",
        "Storage Queue Data Contributor",
        "Microsoft.Storage/storageAccounts",
        "appPrincipalId",
        id="app-storage-queue-contributor",
    ),
    pytest.param(
        "modules/storage.bicep",
        "deployerBlobOwner",
        "Storage Blob Data Owner",
        "Microsoft.Storage/storageAccounts",
        "deployerPrincipalId",
        id="deployer-storage-blob-owner",
    ),
    pytest.param(
        "modules/storage.bicep",
        "deployerQueueContributor",
        "Storage Queue Data Contributor",
        "Microsoft.Storage/storageAccounts",
        "deployerPrincipalId",
        id="deployer-storage-queue-contributor",
    ),
    pytest.param(
        "modules/monitoring.bicep",
        "appMetricsPublisher",
        "Monitoring Metrics Publisher",
        "Microsoft.Insights/components",
        "appPrincipalId",
        id="app-appinsights-metrics-publisher",
    ),
    pytest.param(
        "modules/monitoring.bicep",
        "deployerMetricsPublisher",
        "Monitoring Metrics Publisher",
        "Microsoft.Insights/components",
        "deployerPrincipalId",
        id="deployer-appinsights-metrics-publisher",
    ),
    pytest.param(
        "modules/openai.bicep",
        "appOpenAiUser",
        "Cognitive Services OpenAI User",
        "Microsoft.CognitiveServices/accounts",
        "appPrincipalId",
        id="app-openai-user",
    ),
    pytest.param(
        "modules/openai.bicep",
        "deployerOpenAiUser",
        "Cognitive Services OpenAI User",
        "Microsoft.CognitiveServices/accounts",
        "deployerPrincipalId",
        id="deployer-openai-user",
    ),
]

# Output names and values that would put a secret into the deployment history.
SECRET_OUTPUT_NAME = re.compile(
    r"key|secret|password|connection_?string|token|sas\b|credential", re.IGNORECASE
)
SECRET_OUTPUT_VALUE = re.compile(
    r"\blist[A-Z]\w*|ConnectionString|InstrumentationKey|AccountKey|SharedAccess|primaryKey|secondaryKey",
)

# App settings Flex Consumption does not take: the runtime and the package come from functionAppConfig.
FLEX_DEPRECATED_SETTINGS = {
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_EXTENSION_VERSION",
    "FUNCTIONS_WORKER_RUNTIME_VERSION",
    "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_CONTENTSHARE",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "SCM_DO_BUILD_DURING_DEPLOYMENT",
    "ENABLE_ORYX_BUILD",
    "WEBSITE_NODE_DEFAULT_VERSION",
}


def secret_outputs(template: Template) -> list[str]:
    """Outputs of this template that are, or could carry, a key, token or connection string."""
    problems = []
    for name, output in template.outputs.items():
        if SECRET_OUTPUT_NAME.search(name):
            problems.append(f"{name}: the name says secret")
        if any(decorator.get("type") == "secure" for decorator in output.get("decorators") or []):
            problems.append(f"{name}: @secure output")
        texts = [node for node in walk(output.get("value")) if isinstance(node, str)]
        problems.extend(f"{name}: {text!r}" for text in texts if SECRET_OUTPUT_VALUE.search(text))
    return problems


def role_id(template: Template, expression: Any) -> tuple[str, str]:
    """(variable name, role definition GUID) of ``subscriptionResourceId('...roleDefinitions', var)``."""
    call = function(expression, "subscription_resource_id")
    assert call is not None, f"roleDefinitionId is not subscriptionResourceId(...): {expression}"
    assert call["resource_type"] == "Microsoft.Authorization/roleDefinitions"
    variable = call["resource_name_1"]
    guid = template.resolve(variable)
    assert isinstance(guid, str), f"role id {variable!r} is not a literal"
    return variable, guid


# --- parsing and layout ---------------------------------------------------------------------


def test_every_bicep_file_is_main_or_a_module() -> None:
    names = [path.relative_to(INFRA).as_posix() for path in bicep_files()]
    assert names == ["main.bicep", *MODULES]


@pytest.mark.parametrize("name", ["main.bicep", *MODULES])
def test_file_parses(templates: dict[str, Template], name: str) -> None:
    template = templates[name]
    assert template.resources() or template.modules(), f"{name} declares nothing"
    assert template.scope == ("subscription" if name == "main.bicep" else "resourceGroup")


def test_main_uses_every_module_from_the_local_folder(main: Template) -> None:
    used = sorted(module.path for module in main.modules())
    assert used == MODULES, "every module is local (no registry) and every local module is used"
    for module in main.modules():
        assert (INFRA / module.path).is_file()
        assert module.body["scope"] == "rg", f"module {module.symbol} deploys outside the resource group"


def test_main_creates_the_resource_group(main: Template) -> None:
    assert [r.type for r in main.resources()] == ["Microsoft.Resources/resourceGroups"]
    assert main.resource("rg").get("tags") == "tags"
    assert main.resolve("tags")["'azd-env-name'"] == "environmentName"  # pycep keeps a key's quotes


def test_a_broken_template_fails_to_parse(tmp_path: Path) -> None:
    broken = tmp_path / "broken.bicep"
    broken.write_text(
        (INFRA / "modules" / "identity.bicep").read_text().replace("location: location\n", "location: {\n")
    )
    with pytest.raises(pytest.fail.Exception, match="cannot parse"):
        load([broken])


# --- storage ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        pytest.param(("allowSharedKeyAccess",), False, id="shared-key-off"),
        pytest.param(("allowBlobPublicAccess",), False, id="anonymous-blob-access-off"),
        pytest.param(("minimumTlsVersion",), "TLS1_2", id="tls-1-2"),
        pytest.param(("supportsHttpsTrafficOnly",), True, id="https-only"),
        pytest.param(("defaultToOAuthAuthentication",), True, id="entra-id-by-default"),
        pytest.param(("allowCrossTenantReplication",), False, id="no-cross-tenant-replication"),
    ],
)
def test_storage_account_property(storage: Template, path: tuple[str, ...], expected: object) -> None:
    account = storage.only("Microsoft.Storage/storageAccounts")
    assert account.condition is None
    assert account.get("properties", *path) == expected


@pytest.mark.parametrize("policy", ["deleteRetentionPolicy", "containerDeleteRetentionPolicy"])
def test_blob_soft_delete(storage: Template, policy: str) -> None:
    blob = storage.only("Microsoft.Storage/storageAccounts/blobServices")
    assert blob.get("parent") == "storage"
    assert blob.get("properties", policy, "enabled") is True
    days = storage.resolve(blob.get("properties", policy, "days"))
    assert isinstance(days, Param)
    assert isinstance(days.default, int)
    assert days.default >= 1


def test_containers_are_private_and_named_as_the_app_reads_them(storage: Template) -> None:
    containers = storage.resources("Microsoft.Storage/storageAccounts/blobServices/containers")
    names = {storage.resolve(c.get("name")) for c in containers}
    assert names == {"app-package", Settings().cache_container, Settings().jobs_container}
    for container in containers:
        assert container.get("parent") == "blobService"
        assert container.get("properties", "publicAccess") == "None"


def test_queues_are_named_as_the_app_reads_them(storage: Template) -> None:
    queues = storage.resources("Microsoft.Storage/storageAccounts/queueServices/queues")
    assert {storage.resolve(q.get("name")) for q in queues} == {JOBS_QUEUE, POISON_QUEUE}


# --- monitoring, Azure OpenAI, session pool --------------------------------------------------


@pytest.mark.parametrize(
    ("name", "type_", "path"),
    [
        pytest.param(
            "modules/monitoring.bicep",
            "Microsoft.Insights/components",
            ("properties", "DisableLocalAuth"),
            id="application-insights",
        ),
        pytest.param(
            "modules/monitoring.bicep",
            "Microsoft.OperationalInsights/workspaces",
            ("properties", "features", "disableLocalAuth"),
            id="log-analytics",
        ),
        pytest.param(
            "modules/openai.bicep",
            "Microsoft.CognitiveServices/accounts",
            ("properties", "disableLocalAuth"),
            id="azure-openai",
        ),
    ],
)
def test_local_auth_is_disabled(
    templates: dict[str, Template], name: str, type_: str, path: tuple[str, ...]
) -> None:
    assert templates[name].only(type_).get(*path) is True


def test_application_insights_is_workspace_based(monitoring: Template) -> None:
    insights = monitoring.only("Microsoft.Insights/components")
    assert accessor(insights.get("properties", "WorkspaceResourceId")) == ["logAnalytics", "id"]


def test_openai_account_has_its_own_subdomain_and_a_deployment(openai: Template) -> None:
    account = openai.only("Microsoft.CognitiveServices/accounts")
    assert account.get("kind") == "OpenAI"
    assert account.get("properties", "customSubDomainName") == "name"  # Entra ID needs a custom subdomain
    deployment = openai.only("Microsoft.CognitiveServices/accounts/deployments")
    assert deployment.get("parent") == "account"
    assert deployment.get("properties", "model", "format") == "OpenAI"


def test_nothing_is_provisioned_that_no_code_uses(templates: dict[str, Template]) -> None:
    # The sandbox runs programs in a local child process; there is no remote runner to host.
    kinds = {r.type for template in templates.values() for r in template.resources()}
    assert not any(kind.startswith("Microsoft.App/") for kind in kinds), kinds


# --- function app ---------------------------------------------------------------------------


def test_plan_is_flex_consumption(functionapp: Template) -> None:
    plan = functionapp.only("Microsoft.Web/serverfarms")
    assert plan.get("sku") == {"name": "FC1", "tier": "FlexConsumption"}
    assert plan.get("properties", "reserved") is True  # Linux


def test_site_runs_python_as_the_user_assigned_identity(functionapp: Template) -> None:
    site = functionapp.only("Microsoft.Web/sites")
    assert site.get("kind") == "functionapp,linux"
    assert site.get("properties", "httpsOnly") is True
    assert site.get("properties", "siteConfig", "minTlsVersion") == "1.2"
    assert site.get("properties", "siteConfig", "ftpsState") == "Disabled"
    assert site.get("identity", "type") == "UserAssigned"
    assert list(site.get("identity", "userAssignedIdentities")) == ["'${identityId}'"]


def test_runtime_is_the_python_the_app_is_tested_on(functionapp: Template) -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    tested = pyproject["tool"]["mypy"]["python_version"]
    assert pyproject["project"]["requires-python"] == f">={tested}"
    runtime = functionapp.only("Microsoft.Web/sites").get("properties", "functionAppConfig", "runtime")
    assert runtime["name"] == "python"
    assert functionapp.resolve(runtime["version"]) == tested


def test_scale_settings_are_parameters(main: Template, functionapp: Template) -> None:
    scale = functionapp.only("Microsoft.Web/sites").get(
        "properties", "functionAppConfig", "scaleAndConcurrency"
    )
    for key in ("instanceMemoryMB", "maximumInstanceCount"):
        assert functionapp.resolve(scale[key]) == Param(key, functionapp.parameters[key]["default"])
        assert main.module("functionApp").params[key] == key  # passed through from main.bicep's own
        assert main.parameters[key]["default"] == functionapp.parameters[key]["default"]


def test_deployment_package_storage_signs_in_with_the_identity(functionapp: Template) -> None:
    storage = functionapp.only("Microsoft.Web/sites").get(
        "properties", "functionAppConfig", "deployment", "storage"
    )
    assert storage["type"] == "blobContainer"
    assert storage["value"] == "${blobEndpoint}${deploymentContainerName}"
    assert storage["authentication"] == {
        "type": "UserAssignedIdentity",
        "userAssignedIdentityResourceId": "identityId",
    }


@pytest.mark.parametrize("policy", ["ftp", "scm"])
def test_basic_publishing_credentials_are_off(functionapp: Template, policy: str) -> None:
    policies = functionapp.resources("Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    matching = [p for p in policies if p.get("name") == policy]
    assert len(matching) == 1
    assert matching[0].get("parent") == "app"
    assert matching[0].get("properties", "allow") is False


def test_azd_finds_the_app_by_its_service_tag(functionapp: Template) -> None:
    azure_yaml = yaml.safe_load((REPO / "azure.yaml").read_text(encoding="utf-8"))
    [(service, config)] = azure_yaml["services"].items()
    assert config["host"] == "function"
    assert config["language"] == "python"
    assert config["project"] == "."
    # Before azd zips the folder: export the model if needed and check the package.
    assert config["hooks"]["prepackage"] == {"shell": "sh", "run": "make package-check"}
    assert "\npackage-check: " in (REPO / "Makefile").read_text(encoding="utf-8")
    assert azure_yaml["infra"] == {"provider": "bicep", "path": "infra", "module": "main"}
    assert functionapp.parameters["serviceName"]["default"] == service
    tags = functionapp.only("Microsoft.Web/sites").get("tags")
    assert lookup(tags, "function", "parameters", "arg_2", "'azd-service-name'") == "serviceName"


# --- app settings: identity-based only ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        pytest.param("AzureWebJobsStorage__credential", "managedidentity", id="credential"),
        pytest.param("AzureWebJobsStorage__clientId", "identityClientId", id="client-id"),
        pytest.param("AzureWebJobsStorage__blobServiceUri", "blobEndpoint", id="blob-uri"),
        pytest.param("AzureWebJobsStorage__queueServiceUri", "queueEndpoint", id="queue-uri"),
        pytest.param("AZURE_CLIENT_ID", "identityClientId", id="azure-client-id"),
        pytest.param("AZURE_OPENAI_ENDPOINT", "openAiEndpoint", id="openai-endpoint"),
        pytest.param("AZURE_OPENAI_DEPLOYMENT", "openAiDeployment", id="openai-deployment"),
        pytest.param(
            "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
            "ClientId=${identityClientId};Authorization=AAD",
            id="appinsights-entra-id",
        ),
    ],
)
def test_identity_based_setting(app_settings: dict[str, object], name: str, value: str) -> None:
    assert app_settings[name] == value


@pytest.mark.parametrize(
    ("param", "expected"),
    [
        pytest.param("identityClientId", ["identity", "outputs", "clientId"], id="client-id"),
        pytest.param("identityId", ["identity", "outputs", "id"], id="identity-id"),
        pytest.param("blobEndpoint", ["storage", "outputs", "blobEndpoint"], id="blob-endpoint"),
        pytest.param("queueEndpoint", ["storage", "outputs", "queueEndpoint"], id="queue-endpoint"),
        pytest.param("cacheContainerName", ["storage", "outputs", "cacheContainerName"], id="cache"),
        pytest.param("jobsContainerName", ["storage", "outputs", "jobsContainerName"], id="jobs"),
        pytest.param(
            "deploymentContainerName", ["storage", "outputs", "deploymentContainerName"], id="package"
        ),
    ],
)
def test_main_wires_the_function_app_to_the_modules(main: Template, param: str, expected: list[str]) -> None:
    assert accessor(main.module("functionApp").params[param]) == expected


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        pytest.param("clientId", ["identity", "properties", "clientId"], id="client-id"),
        pytest.param("principalId", ["identity", "properties", "principalId"], id="principal-id"),
    ],
)
def test_identity_outputs(templates: dict[str, Template], output: str, expected: list[str]) -> None:
    assert accessor(templates["modules/identity.bicep"].outputs[output]["value"]) == expected


@pytest.mark.parametrize(
    ("output", "container"),
    [
        pytest.param("blobEndpoint", ["storage", "properties", "primaryEndpoints", "blob"], id="blob"),
        pytest.param("queueEndpoint", ["storage", "properties", "primaryEndpoints", "queue"], id="queue"),
        pytest.param("cacheContainerName", ["cacheContainer", "name"], id="cache"),
        pytest.param("jobsContainerName", ["jobsContainer", "name"], id="jobs"),
        pytest.param("deploymentContainerName", ["deploymentContainer", "name"], id="package"),
    ],
)
def test_storage_outputs(storage: Template, output: str, container: list[str]) -> None:
    assert accessor(storage.outputs[output]["value"]) == container


def test_no_setting_holds_a_key_or_connection_string(app_settings: dict[str, object]) -> None:
    assert "AzureWebJobsStorage" not in app_settings  # the connection-string form
    for name, value in app_settings.items():
        texts = [node for node in walk(value) if isinstance(node, str)]
        assert not [t for t in texts if re.search(r"AccountKey=|SharedAccess|\blist[A-Z]", t)], name
    # The one connection string: Application Insights', read from the resource, key-free in use
    # (local auth is disabled, so its instrumentation key alone is refused).
    assert accessor(app_settings["APPLICATIONINSIGHTS_CONNECTION_STRING"]) == [
        "applicationInsights",
        "properties",
        "ConnectionString",
    ]


def test_no_flex_deprecated_settings(app_settings: dict[str, object]) -> None:
    assert not FLEX_DEPRECATED_SETTINGS & set(app_settings)


# --- role assignments ----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "symbol", "role", "scope_type", "principal"), ROLE_ASSIGNMENTS)
def test_role_assignment(
    templates: dict[str, Template], name: str, symbol: str, role: str, scope_type: str, principal: str
) -> None:
    template = templates[name]
    assignment = template.resource(symbol)
    assert assignment.type == "Microsoft.Authorization/roleAssignments"
    variable, guid = role_id(template, assignment.get("properties", "roleDefinitionId"))
    assert ROLES[guid] == role
    # Scoped to the one resource, not its resource group or subscription.
    scope = assignment.get("scope")
    assert template.resource(scope).type == scope_type
    assert not template.resource(scope).existing
    # Deterministic name: guid(scope, principal, role), so a redeployment finds the same assignment.
    name_call = function(assignment.get("name"), "guid")
    assert name_call is not None
    assert accessor(name_call["base_string"]) == [scope, "id"]
    assert name_call["extra_string_1"] == principal
    assert name_call["extra_string_2"] == variable
    assert assignment.get("properties", "principalId") == principal
    if principal == "appPrincipalId":
        assert assignment.condition is None
        assert assignment.get("properties", "principalType") == "ServicePrincipal"
    else:  # the deploying user's, only when a principal id is given
        assert function(lookup(assignment.condition, "operator", "operands", "bool_value"), "empty") == {
            "item_to_test": "deployerPrincipalId"
        }
        assert assignment.get("properties", "principalType") == "deployerPrincipalType"


def test_the_role_assignment_table_is_complete(templates: dict[str, Template]) -> None:
    found = {
        (template.name, r.symbol)
        for template in templates.values()
        for r in template.resources("Microsoft.Authorization/roleAssignments")
    }
    assert found == {(p.values[0], p.values[1]) for p in ROLE_ASSIGNMENTS}


@pytest.mark.parametrize("symbol", ["monitoring", "storage", "openAi"])
def test_main_passes_the_principals(main: Template, symbol: str) -> None:
    params = main.module(symbol).params
    assert accessor(params["appPrincipalId"]) == ["identity", "outputs", "principalId"]
    assert params["deployerPrincipalId"] == "principalId"
    assert params["deployerPrincipalType"] == "principalType"
    assert main.parameters["principalId"]["default"] == ""  # no deployer roles unless asked


@pytest.mark.parametrize(
    ("symbol", "condition"),
    [
        pytest.param("openAi", "newOpenAi", id="openai-new-only"),
    ],
)
def test_optional_modules(main: Template, symbol: str, condition: str) -> None:
    assert main.module(symbol).condition == condition


def test_openai_mode_chooses_new_existing_or_none(main: Template) -> None:
    allowed = [d["argument"] for d in main.parameters["openAiMode"]["decorators"] if d["type"] == "allowed"]
    assert allowed == [["new", "existing", "none"]]
    endpoint = main.variables["openAiEndpoint"]["value"]["operator"]["operands"]
    assert endpoint["condition"] == "newOpenAi"
    assert accessor(endpoint["true_value"]) == ["openAi", "outputs", "endpoint"]
    existing = endpoint["false_value"]["operator"]["operands"]
    assert (existing["condition"], existing["true_value"], existing["false_value"]) == (
        "existingOpenAi",
        "existingOpenAiEndpoint",
        "",
    )


# --- outputs and parameters ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["main.bicep", *MODULES])
def test_outputs_hold_no_secret(templates: dict[str, Template], name: str) -> None:
    assert secret_outputs(templates[name]) == []


@pytest.mark.parametrize(
    "output",
    [
        pytest.param("output k string = storage.listKeys().keys[0].value", id="listKeys-method"),
        pytest.param("output k string = listKeys(storage.id, '2023-05-01').keys[0].value", id="listKeys"),
        pytest.param("output c string = insights.properties.ConnectionString", id="connection-string"),
        pytest.param("output c string = 'AccountKey=${storage.listKeys().keys[0].value}'", id="in-a-string"),
        pytest.param("output storageKey string = storage.name", id="secret-name"),
        pytest.param("output instrumentation string = insights.properties.InstrumentationKey", id="ikey"),
    ],
)
def test_a_secret_output_is_caught(tmp_path: Path, output: str) -> None:
    path = tmp_path / "secret.bicep"
    path.write_text((INFRA / "modules" / "storage.bicep").read_text() + f"\n{output}\n", encoding="utf-8")
    [template] = load([path]).values()
    assert secret_outputs(template)


def test_parameters_file_maps_azd_environment_to_main(main: Template) -> None:
    parameters = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert set(parameters) <= set(main.parameters)
    required = {name for name, p in main.parameters.items() if "default" not in p}
    assert required <= set(parameters), "azd must be able to fill every required parameter"
    azd_provided = {"AZURE_ENV_NAME", "AZURE_LOCATION", "AZURE_PRINCIPAL_ID"}
    for name, entry in parameters.items():
        match = re.fullmatch(r"\$\{(\w+)(=[^}]*)?\}", entry["value"])
        assert match, f"{name}: expected one ${{VAR}} or ${{VAR=default}}"
        variable, default = match.groups()
        assert variable in azd_provided or default is not None, f"{name}: {variable} needs a default"
        if default is not None and "default" in main.parameters[name]:
            assert default[1:] == str(main.parameters[name]["default"]).lower() or default[1:] == str(
                main.parameters[name]["default"]
            ), f"{name}: the file's default differs from main.bicep's"
