"""checkov on infra/: no failed check, every skip justified, and the custom keyless checks at work.

``checkov --framework bicep`` runs from .venv-iac with the custom checks in checkov_checks/
(shared keys, anonymous blob access, local auth, identity-based app settings: checkov has no
Bicep check for these). Mutated copies of the templates show each check catching what it is for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.infra.bicep import CHECKOV, CUSTOM_CHECKS, INFRA, run_iac

pytestmark = pytest.mark.slow

CUSTOM_IDS = {"CKV_TW_1", "CKV_TW_2", "CKV_TW_3", "CKV_TW_4"}

# Every skip in infra/, with its reason in the template: a new skip must be added here on purpose.
EXPECTED_SKIPS = {
    ("/modules/storage.bicep", "CKV_AZURE_35"),  # default network rule deny: no virtual network
    ("/modules/storage.bicep", "CKV_AZURE_59"),  # public network access: no virtual network
    ("/modules/storage.bicep", "CKV_AZURE_206"),  # geo-replication: rebuildable data, lowest cost
    ("/modules/functionapp.bicep", "CKV_AZURE_225"),  # zone redundancy: only some Flex regions
    ("/modules/functionapp.bicep", "CKV_AZURE_222"),  # public web app: it is a public API
    ("/modules/functionapp.bicep", "CKV_AZURE_17"),  # client certificates: function keys instead
    ("/modules/functionapp.bicep", "CKV_AZURE_212"),  # worker count: Flex Consumption scales itself
    ("/modules/functionapp.bicep", "CKV_AZURE_213"),  # App Service health check: not on Flex
    # authsettingsV2 read as a web config: the site's own checks cover logging, errors and stacks
    ("/modules/functionapp.bicep", "CKV_AZURE_63"),
    ("/modules/functionapp.bicep", "CKV_AZURE_65"),
    ("/modules/functionapp.bicep", "CKV_AZURE_66"),
    ("/modules/functionapp.bicep", "CKV_AZURE_80"),
    ("/modules/functionapp.bicep", "CKV_AZURE_88"),
    ("/modules/functionapp.bicep", "CKV_AZURE_13"),  # it is App Service Authentication, keys pass by design
    ("/modules/openai.bicep", "CKV_AZURE_134"),  # public network access: no virtual network
}

# (module, edits as (text, replacement), checks that must fail on the mutated copy)
MUTANTS = [
    pytest.param(
        "storage.bicep",
        [("allowSharedKeyAccess: false", "allowSharedKeyAccess: true")],
        {"CKV_TW_1"},
        id="shared-key-on",
    ),
    pytest.param(
        "storage.bicep", [("    allowSharedKeyAccess: false\n", "")], {"CKV_TW_1"}, id="shared-key-unset"
    ),
    pytest.param(
        "storage.bicep",
        [("allowSharedKeyAccess: false", "allowSharedKeyAccess: softDeleteDays < 1")],
        {"CKV_TW_1"},
        id="shared-key-expression",
    ),
    pytest.param(
        "storage.bicep",
        [
            ("storageAccounts@2023-05-01' = {", "storageAccounts@2023-05-01' = if (!empty(name)) {"),
            ("allowSharedKeyAccess: false", "allowSharedKeyAccess: true"),
        ],
        {"CKV_TW_1"},
        id="shared-key-on-in-a-conditional-account",
    ),
    pytest.param(
        "storage.bicep",
        [("allowBlobPublicAccess: false", "allowBlobPublicAccess: true")],
        {"CKV_TW_2"},
        id="blob-public-access-on",
    ),
    pytest.param(
        "storage.bicep",
        [("minimumTlsVersion: 'TLS1_2'", "minimumTlsVersion: 'TLS1_0'")],
        {"CKV_AZURE_44"},
        id="tls-1-0",
    ),
    pytest.param(
        "storage.bicep",
        [("supportsHttpsTrafficOnly: true", "supportsHttpsTrafficOnly: false")],
        {"CKV_AZURE_3"},
        id="http-allowed",
    ),
    pytest.param(
        "monitoring.bicep",
        [("DisableLocalAuth: true", "DisableLocalAuth: false")],
        {"CKV_TW_3"},
        id="appinsights-local-auth",
    ),
    pytest.param(
        "monitoring.bicep",
        [("disableLocalAuth: true", "disableLocalAuth: false")],
        {"CKV_TW_3"},
        id="log-analytics-local-auth",
    ),
    pytest.param(
        "openai.bicep",
        [("disableLocalAuth: true", "disableLocalAuth: false")],
        {"CKV_TW_3", "CKV_AZURE_236"},
        id="openai-local-auth",
    ),
    pytest.param(
        "functionapp.bicep",
        [("name: 'AzureWebJobsStorage__credential'", "name: 'AzureWebJobsStorage'")],
        {"CKV_TW_4"},
        id="storage-connection-string-setting",
    ),
    pytest.param(
        "functionapp.bicep",
        [
            (
                "value: 'managedidentity'",
                "value: 'DefaultEndpointsProtocol=https;AccountName=x;AccountKey=c2VjcmV0'",
            )
        ],
        {"CKV_TW_4"},
        id="account-key-in-a-setting",
    ),
    pytest.param(
        "functionapp.bicep",
        [
            ("type: 'UserAssignedIdentity'", "type: 'StorageAccountConnectionString'"),
            ("userAssignedIdentityResourceId: identityId", "storageAccountConnectionStringName: 'PACKAGE'"),
        ],
        {"CKV_TW_4"},
        id="package-storage-by-connection-string",
    ),
    pytest.param(
        "functionapp.bicep", [("httpsOnly: true", "httpsOnly: false")], {"CKV_AZURE_70"}, id="http-app"
    ),
]


def checkov(directory: Path) -> dict[str, Any]:
    proc = run_iac(
        [
            CHECKOV,
            "--framework",
            "bicep",
            "--directory",
            directory,
            "--external-checks-dir",
            CUSTOM_CHECKS,
            "--output",
            "json",
            "--skip-download",  # no Prisma Cloud metadata: the run stays offline
            "--compact",
        ]
    )
    assert proc.returncode in (0, 1), proc.stderr  # 1: some check failed
    report = json.loads(proc.stdout)
    reports = report if isinstance(report, list) else [report]
    [bicep] = [r for r in reports if r.get("check_type") == "bicep"]
    return bicep  # type: ignore[no-any-return]


def records(report: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return report["results"][f"{kind}_checks"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def infra_report() -> dict[str, Any]:
    return checkov(INFRA)


@pytest.fixture(scope="module")
def mutant_report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One checkov run over every mutant: each a copy of one module with one change."""
    directory = tmp_path_factory.mktemp("mutants")
    for param in MUTANTS:
        module, edits, _ = param.values
        source = (INFRA / "modules" / str(module)).read_text(encoding="utf-8")
        for text, replacement in edits:  # type: ignore[attr-defined]
            assert source.count(text) == 1, f"{param.id}: {text!r} is not in {module} exactly once"
            source = source.replace(text, replacement)
        (directory / f"{param.id}.bicep").write_text(source, encoding="utf-8")
    return checkov(directory)


def test_infra_has_no_failed_check(infra_report: dict[str, Any]) -> None:
    failed = [f"{r['check_id']} {r['resource']} {r['file_path']}" for r in records(infra_report, "failed")]
    assert failed == []
    assert infra_report["summary"]["parsing_errors"] == 0


def test_checkov_scanned_every_module(infra_report: dict[str, Any]) -> None:
    scanned = {r["file_path"] for kind in ("passed", "skipped") for r in records(infra_report, kind)}
    modules = {"/" + p.relative_to(INFRA).as_posix() for p in (INFRA / "modules").glob("*.bicep")}
    # No checkov check covers a managed identity or a role assignment; the property tests in
    # test_templates.py read that file.
    assert scanned == modules - {"/modules/identity.bicep"}


def test_the_custom_checks_ran(infra_report: dict[str, Any]) -> None:
    passed = {(r["check_id"], r["resource"]) for r in records(infra_report, "passed")}
    assert {
        ("CKV_TW_1", "Microsoft.Storage/storageAccounts.storage"),
        ("CKV_TW_2", "Microsoft.Storage/storageAccounts.storage"),
        ("CKV_TW_3", "Microsoft.Insights/components.applicationInsights"),
        ("CKV_TW_3", "Microsoft.OperationalInsights/workspaces.logAnalytics"),
        ("CKV_TW_3", "Microsoft.CognitiveServices/accounts.account"),
        ("CKV_TW_4", "Microsoft.Web/sites.app"),
    } <= passed


def test_every_skip_is_expected_and_has_a_reason(infra_report: dict[str, Any]) -> None:
    skipped = records(infra_report, "skipped")
    assert {(r["file_path"], r["check_id"]) for r in skipped} == EXPECTED_SKIPS
    for record in skipped:
        reason = record["check_result"].get("suppress_comment", "")
        assert len(reason) > 30, f"{record['check_id']}: {reason!r}"
        assert reason != "No comment provided"


@pytest.mark.parametrize(("module", "edits", "expected"), MUTANTS)
def test_mutant_is_caught(
    mutant_report: dict[str, Any],
    request: pytest.FixtureRequest,
    module: str,
    edits: list[tuple[str, str]],
    expected: set[str],
) -> None:
    mutant = f"/{request.node.callspec.id}.bicep"
    failed = {r["check_id"] for r in records(mutant_report, "failed") if r["file_path"] == mutant}
    assert expected <= failed  # related built-in checks may fail along (http-app fails three)
    assert failed & CUSTOM_IDS == expected & CUSTOM_IDS  # and no custom check fails by mistake
    assert mutant_report["summary"]["parsing_errors"] == 0
