"""One set of app settings: what the code reads, local.settings.json.example, and the Bicep.

The sets differ only where the table below says why: storage is a connection string locally
(Azurite) and identity-based in Azure, the dev host's key exists only locally, an
OpenAI-compatible model server (with its key) is the local stand-in for keyless Azure OpenAI, and
on Flex Consumption the runtime is set by functionAppConfig, not by an app setting.
"""

from __future__ import annotations

import ast
import json
from dataclasses import fields
from pathlib import Path

import pytest

from tests.infra.bicep import REPO, Template
from toolweaver.settings import Settings
from toolweaver.storage import connect

EXAMPLE = REPO / "local.settings.json.example"
IDENTITY_STORAGE = {
    "AzureWebJobsStorage__credential",
    "AzureWebJobsStorage__clientId",
    "AzureWebJobsStorage__blobServiceUri",
    "AzureWebJobsStorage__queueServiceUri",
}

# Settings in one place and not another, each with the reason.
LOCAL_ONLY = {
    "AzureWebJobsStorage": "a connection string: Azurite locally; Azure uses the identity-based form",
    "DEVHOST_FUNCTION_KEY": "the dev host's function key; Azure issues real function keys",
    "DEVHOST_ADMIN_KEY": "the dev host's operator (master) key; in Azure the host's master key",
    "FUNCTIONS_WORKER_RUNTIME": "on Flex Consumption functionAppConfig.runtime sets it",
    "OPENAI_BASE_URL": "a local OpenAI-compatible model server; Azure uses Azure OpenAI (AZURE_OPENAI_*)",
    "OPENAI_API_KEY": "a local model server's key; Azure OpenAI is keyless (the app's identity)",
    "OPENAI_MODEL": "only read with OPENAI_BASE_URL; Azure uses AZURE_OPENAI_DEPLOYMENT",
}
AZURE_ONLY = dict.fromkeys(IDENTITY_STORAGE, "identity-based storage; locally AzureWebJobsStorage")
UNUSED_IN_AZURE = {
    "AzureWebJobsStorage__accountName": "the Bicep gives the two service URIs instead",
}


def storage_settings() -> set[str]:
    """Every app setting toolweaver/storage/connect.py reads: SETTING + each setting("__...") suffix."""
    tree = ast.parse(Path(connect.__file__).read_text(encoding="utf-8"))
    suffixes = {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "setting"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    }
    assert "" in suffixes, "connect.py no longer reads the connection string the way this test expects"
    return {connect.SETTING + suffix for suffix in suffixes}


def code_settings() -> set[str]:
    return {f.metadata["env"] for f in fields(Settings)} | storage_settings()


def example() -> dict[str, dict[str, object]]:
    data = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_storage_settings_are_found_in_the_code() -> None:
    assert (
        storage_settings() == {"AzureWebJobsStorage", "AzureWebJobsStorage__accountName"} | IDENTITY_STORAGE
    )


def test_example_lists_what_the_code_reads() -> None:
    expected = (code_settings() - IDENTITY_STORAGE - set(UNUSED_IN_AZURE)) | set(LOCAL_ONLY)
    assert set(example()["Values"]) == expected


def test_bicep_sets_what_the_code_reads(app_settings: dict[str, object]) -> None:
    expected = (code_settings() - set(UNUSED_IN_AZURE) - set(LOCAL_ONLY)) | set(AZURE_ONLY)
    assert set(app_settings) == expected


def test_bicep_and_example_differ_only_where_the_table_says(app_settings: dict[str, object]) -> None:
    values = set(example()["Values"])
    assert values - set(app_settings) == set(LOCAL_ONLY)
    assert set(app_settings) - values == set(AZURE_ONLY)


def test_every_example_setting_has_a_comment() -> None:
    data = example()
    assert list(data["Comments"]) == list(data["Values"])


@pytest.mark.parametrize("name", sorted(IDENTITY_STORAGE))
def test_example_explains_the_identity_based_storage_settings(name: str) -> None:
    comment = str(example()["Comments"]["AzureWebJobsStorage"])
    assert name.removeprefix("AzureWebJobsStorage") in comment


def literals(functionapp: Template, app_settings: dict[str, object]) -> dict[str, str]:
    """The app settings the Bicep gives as plain text: no parameter, expression or interpolation."""
    return {
        name: value
        for name, value in app_settings.items()
        if isinstance(value, str)
        and "${" not in value
        and value not in functionapp.parameters
        and value not in functionapp.variables
    }


def test_bicep_literals_are_valid_settings(functionapp: Template, app_settings: dict[str, object]) -> None:
    """Settings.from_env accepts every literal the Bicep sets (a bad number would fail at start)."""
    names = {f.metadata["env"] for f in fields(Settings)}
    plain = {name: value for name, value in literals(functionapp, app_settings).items() if name in names}
    assert {"SEARCH_TOP_K", "MAX_BODY_BYTES", "PREWARM"} <= set(plain)
    Settings.from_env(plain)


def test_bicep_and_example_agree_on_values(functionapp: Template, app_settings: dict[str, object]) -> None:
    """Where the Bicep gives plain text, the example has the same: Azure runs with the local defaults."""
    values = example()["Values"]
    plain = {name: value for name, value in literals(functionapp, app_settings).items() if name in values}
    assert len(plain) >= 10
    assert plain == {name: values[name] for name in plain}


@pytest.mark.parametrize(
    ("setting", "param", "output", "container", "default"),
    [
        pytest.param(
            "CACHE_CONTAINER",
            "cacheContainerName",
            "cacheContainerName",
            "cacheContainer",
            Settings().cache_container,
            id="cache",
        ),
        pytest.param(
            "JOBS_CONTAINER",
            "jobsContainerName",
            "jobsContainerName",
            "jobsContainer",
            Settings().jobs_container,
            id="jobs",
        ),
    ],
)
def test_container_settings_name_the_containers_the_bicep_creates(
    app_settings: dict[str, object],
    storage: Template,
    setting: str,
    param: str,
    output: str,
    container: str,
    default: str,
) -> None:
    # functionapp.bicep sets the app setting from its parameter, which main.bicep fills from the
    # storage module's output (tested in test_templates), which is the container's name.
    assert app_settings[setting] == param
    assert storage.resolve(storage.resource(container).get("name")) == default
    assert example()["Values"][setting] == default
