"""Keyless checks checkov lacks for Bicep: shared keys, anonymous blob access, local auth, app settings.

checkov loads this file with ``--external-checks-dir tests/infra/checkov_checks``; it runs in the
IaC virtual environment (``.venv-iac``), not in the app's. Resources declared with ``if (...)``
or ``for`` are unwrapped first: checkov hands them over as ``{condition, config}``, and its own
checks would read the wrapper, find no ``properties`` and pass. Any value that is not the literal
expected one (a parameter, an expression, a missing key) fails: a keyless template says so in
plain words.
"""

from __future__ import annotations

import re
from typing import Any

from checkov.bicep.checks.resource.base_resource_check import BaseResourceCheck
from checkov.common.models.enums import CheckCategories, CheckResult

# Values of app settings that carry a secret: a storage or service key in a connection string,
# a SAS signature, or a key fetched at deployment time.
_SECRET_VALUE = re.compile(
    r"AccountKey=|SharedAccessKey=|SharedAccessSignature=|[?&]sig=|listKeys\(|list_keys|InstrumentationKey=",
    re.IGNORECASE,
)


def unwrap(conf: dict[str, Any]) -> dict[str, Any]:
    """The resource body under any ``if (...)`` and ``for`` wrappers."""
    while isinstance(conf.get("config"), dict) and ("condition" in conf or "loop_type" in conf):
        conf = conf["config"]
    return conf


def lookup(conf: dict[str, Any], *path: str) -> Any:
    node: Any = conf
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


class _KeylessCheck(BaseResourceCheck):
    def scan_resource_conf(self, conf: dict[str, Any]) -> CheckResult:
        return self.scan_body(unwrap(conf))

    def scan_body(self, conf: dict[str, Any]) -> CheckResult:
        raise NotImplementedError


class StorageSharedKeyDisabled(_KeylessCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure storage accounts disable shared key access (allowSharedKeyAccess: false)",
            id="CKV_TW_1",
            categories=(CheckCategories.IAM,),
            supported_resources=("Microsoft.Storage/storageAccounts",),
        )

    def scan_body(self, conf: dict[str, Any]) -> CheckResult:
        self.evaluated_keys = ["properties/allowSharedKeyAccess"]
        value = lookup(conf, "properties", "allowSharedKeyAccess")
        return CheckResult.PASSED if value is False else CheckResult.FAILED


class StorageBlobPublicAccessDisabled(_KeylessCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure storage accounts disallow anonymous blob access (allowBlobPublicAccess: false)",
            id="CKV_TW_2",
            categories=(CheckCategories.GENERAL_SECURITY,),
            supported_resources=("Microsoft.Storage/storageAccounts",),
        )

    def scan_body(self, conf: dict[str, Any]) -> CheckResult:
        self.evaluated_keys = ["properties/allowBlobPublicAccess"]
        value = lookup(conf, "properties", "allowBlobPublicAccess")
        return CheckResult.PASSED if value is False else CheckResult.FAILED


# Where each resource type keeps its "no keys" switch.
_LOCAL_AUTH_SWITCH: dict[str, tuple[str, ...]] = {
    "Microsoft.Insights/components": ("properties", "DisableLocalAuth"),
    "Microsoft.OperationalInsights/workspaces": ("properties", "features", "disableLocalAuth"),
    "Microsoft.CognitiveServices/accounts": ("properties", "disableLocalAuth"),
}


class LocalAuthDisabled(_KeylessCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure Application Insights, Log Analytics and Azure AI accounts disable local (key) auth",
            id="CKV_TW_3",
            categories=(CheckCategories.IAM,),
            supported_resources=tuple(_LOCAL_AUTH_SWITCH),
        )

    def scan_body(self, conf: dict[str, Any]) -> CheckResult:
        path = _LOCAL_AUTH_SWITCH[self.entity_type]
        self.evaluated_keys = ["/".join(path)]
        return CheckResult.PASSED if lookup(conf, *path) is True else CheckResult.FAILED


class FunctionAppIdentityBasedStorage(_KeylessCheck):
    def __init__(self) -> None:
        super().__init__(
            name="Ensure function apps connect to storage with an identity, never a key or connection string",
            id="CKV_TW_4",
            categories=(CheckCategories.SECRETS,),
            supported_resources=("Microsoft.Web/sites",),
        )

    def scan_body(self, conf: dict[str, Any]) -> CheckResult:
        self.evaluated_keys = [
            "properties/siteConfig/appSettings",
            "properties/functionAppConfig/deployment/storage/authentication/type",
        ]
        return CheckResult.FAILED if self.problems(conf) else CheckResult.PASSED

    @staticmethod
    def problems(conf: dict[str, Any]) -> list[str]:
        settings = lookup(conf, "properties", "siteConfig", "appSettings") or []
        if not isinstance(settings, list) or not all(isinstance(s, dict) for s in settings):
            return ["appSettings is not a literal list: nothing in it can be vouched for"]
        names = {str(setting.get("name", "")).lower() for setting in settings}
        found = [
            f"{s.get('name')} holds a secret" for s in settings if _SECRET_VALUE.search(str(s.get("value")))
        ]
        # A bare AzureWebJobsStorage is a connection string; the identity-based form is __-suffixed.
        if "azurewebjobsstorage" in names:
            found.append("AzureWebJobsStorage is a connection string")
        if "azurewebjobsstorage__blobserviceuri" in names and "azurewebjobsstorage__credential" not in names:
            found.append("identity-based storage without AzureWebJobsStorage__credential")
        auth = lookup(
            conf, "properties", "functionAppConfig", "deployment", "storage", "authentication", "type"
        )
        if auth is not None and auth not in ("UserAssignedIdentity", "SystemAssignedIdentity"):
            found.append(f"the deployment package storage signs in with {auth}")
        return found


checks = (
    StorageSharedKeyDisabled(),
    StorageBlobPublicAccessDisabled(),
    LocalAuthDisabled(),
    FunctionAppIdentityBasedStorage(),
)
