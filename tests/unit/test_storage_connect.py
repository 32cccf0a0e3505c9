"""StorageConfig.from_env reads AzureWebJobsStorage the way the Functions host does; secrets stay
out of repr, describe() and error messages; the SDK errors map onto the StorageError tree."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
    ServiceRequestError,
    ServiceResponseError,
)

from toolweaver.errors import (
    ConfigError,
    NotFoundError,
    PreconditionFailedError,
    StorageError,
    StorageUnavailableError,
)
from toolweaver.storage.azure_errors import AzureService, convert
from toolweaver.storage.connect import StorageConfig, describe, open_blob_store, open_job_queue

KEY = "c2VjcmV0LWtleS1kby1ub3QtbG9nLW1lLTAxMjM0NTY3ODk="
FULL = (
    f"DefaultEndpointsProtocol=https;AccountName=toolweaverprod;AccountKey={KEY};"
    "EndpointSuffix=core.windows.net"
)
S = "AzureWebJobsStorage"


@pytest.mark.parametrize(
    ("env", "blob", "queue"),
    [
        pytest.param(
            {S: FULL},
            "https://toolweaverprod.blob.core.windows.net",
            "https://toolweaverprod.queue.core.windows.net",
            id="account-key-string",
        ),
        pytest.param(
            {S: "UseDevelopmentStorage=true"},
            "http://127.0.0.1:10000/devstoreaccount1",
            "http://127.0.0.1:10001/devstoreaccount1",
            id="use-development-storage",
        ),
        pytest.param(
            {S: f"AccountName=a1b2c3;AccountKey={KEY};BlobEndpoint=http://127.0.0.1:5/a1b2c3;"},
            "http://127.0.0.1:5/a1b2c3",
            "https://a1b2c3.queue.core.windows.net",
            id="explicit-blob-endpoint",
        ),
        pytest.param(
            {S: f"AccountName=cnacct;AccountKey={KEY};EndpointSuffix=core.chinacloudapi.cn"},
            "https://cnacct.blob.core.chinacloudapi.cn",
            "https://cnacct.queue.core.chinacloudapi.cn",
            id="sovereign-cloud-suffix",
        ),
        pytest.param(
            {f"{S}__accountName": "toolweaverprod"},
            "https://toolweaverprod.blob.core.windows.net",
            "https://toolweaverprod.queue.core.windows.net",
            id="identity-account-name",
        ),
        pytest.param(
            {
                f"{S}__blobServiceUri": "https://b.example.net",
                f"{S}__queueServiceUri": "https://q.example.net",
            },
            "https://b.example.net",
            "https://q.example.net",
            id="identity-service-uris",
        ),
        pytest.param(
            {f"{S}__accountName": "acct123", f"{S}__blobServiceUri": "https://b.example.net"},
            "https://b.example.net",
            "https://acct123.queue.core.windows.net",
            id="uri-overrides-account-name",
        ),
        pytest.param(
            {f"{S}__blobServiceUri": "https://b.example.net"},
            "https://b.example.net",
            None,
            id="blob-only",
        ),
        pytest.param(
            {S: "UseDevelopmentStorage=true", f"{S}__accountName": "ignored1"},
            "http://127.0.0.1:10000/devstoreaccount1",
            "http://127.0.0.1:10001/devstoreaccount1",
            id="connection-string-wins",
        ),
        pytest.param(
            {S: "  ", f"{S}__accountName": "acct123"},
            "https://acct123.blob.core.windows.net",
            "https://acct123.queue.core.windows.net",
            id="blank-string-is-unset",
        ),
    ],
)
def test_endpoints_from_each_setting_combination(env: dict[str, str], blob: str, queue: str | None) -> None:
    config = StorageConfig.from_env(env)
    assert (config.blob_endpoint, config.queue_endpoint) == (blob, queue)


def test_identity_settings_are_kept() -> None:
    config = StorageConfig.from_env(
        {f"{S}__accountName": "acct123", f"{S}__credential": "managedidentity", f"{S}__clientId": "cid-1"}
    )
    assert config.connection_string is None
    assert (config.credential, config.client_id) == ("managedidentity", "cid-1")
    assert describe(config) == (
        "blob https://acct123.blob.core.windows.net, queue https://acct123.queue.core.windows.net, "
        "managed identity (client id cid-1)"
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param({}, r"set AzureWebJobsStorage to a connection string .*__accountName", id="nothing-set"),
        pytest.param({"OTHER": "x"}, "UseDevelopmentStorage=true for Azurite", id="unrelated-settings"),
        pytest.param({S: "toolweaverprod"}, "not a storage connection string", id="bare-account-name"),
        pytest.param({S: f"AccountKey={KEY}"}, "not a storage connection string", id="key-without-account"),
        pytest.param({f"{S}__accountName": "My_Account"}, "__accountName must be", id="bad-account-name"),
        pytest.param(
            {f"{S}__blobServiceUri": "b.example.net"}, "__blobServiceUri must be", id="uri-no-scheme"
        ),
        pytest.param(
            {f"{S}__accountName": "acct123", f"{S}__credential": "clientsecret"},
            "__credential must be 'managedidentity'",
            id="unknown-credential",
        ),
    ],
)
def test_config_errors_name_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        StorageConfig.from_env(env)
    assert KEY not in str(caught.value)


def test_repr_and_describe_hide_the_key() -> None:
    config = StorageConfig.from_env({S: FULL})
    for text in (repr(config), str(config), describe(config)):
        assert KEY not in text
        assert "AccountKey" not in text
    assert "connection_string='***'" in repr(config)
    assert describe(config) == (
        "blob https://toolweaverprod.blob.core.windows.net, "
        "queue https://toolweaverprod.queue.core.windows.net, connection string"
    )


def test_configs_are_equal_by_value_so_clients_are_shared() -> None:
    first, second = StorageConfig.from_env({S: FULL}), StorageConfig.from_env({S: FULL})
    assert first == second
    assert hash(first) == hash(second)
    assert open_blob_store(first, "index") is open_blob_store(second, "index")  # no request made


@pytest.mark.parametrize(
    "name",
    [
        pytest.param("ab", id="too-short"),
        pytest.param("x" * 64, id="too-long"),
        pytest.param("Jobs", id="upper-case"),
        pytest.param("job--queue", id="double-hyphen"),
        pytest.param("-jobs", id="leading-hyphen"),
        pytest.param("jobs_1", id="underscore"),
    ],
)
def test_invalid_container_and_queue_names(name: str) -> None:
    config = StorageConfig.from_env({S: FULL})
    with pytest.raises(ConfigError, match="container name"):
        open_blob_store(config, name)
    with pytest.raises(ConfigError, match="queue name"):
        open_job_queue(config, name)


def test_queue_without_an_endpoint_names_the_setting() -> None:
    config = StorageConfig.from_env({f"{S}__blobServiceUri": "https://b.example.net"})
    with pytest.raises(ConfigError, match="__queueServiceUri"):
        open_job_queue(config, "jobs")


def test_importing_connect_does_not_load_the_sdk() -> None:
    code = (
        "import sys, toolweaver.storage.connect\n"
        "print(sorted(m for m in sys.modules if m.startswith('azure')))"
    )
    repo = Path(__file__).resolve().parents[2]
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=repo
    )
    assert result.stdout.strip() == "[]"


# --- SDK errors -> StorageError (toolweaver.storage.azure_errors, shared by both adapters) ---------


def http_error(cls: type[HttpResponseError], status: int, code: str) -> HttpResponseError:
    exc = cls(message=f"AccountKey={KEY} should never be echoed")
    exc.status_code = status
    exc.error_code = code  # type: ignore[attr-defined]  # the storage SDKs add it
    return exc


SERVICE = AzureService("Blob Storage", "acct.blob.core.windows.net", "Storage Blob Data Contributor")


@pytest.mark.parametrize(
    ("exc", "expected", "message"),
    [
        pytest.param(
            http_error(ResourceNotFoundError, 404, "BlobNotFound"), NotFoundError, "blob k", id="404"
        ),
        pytest.param(
            http_error(ResourceModifiedError, 412, "ConditionNotMet"),
            PreconditionFailedError,
            "ETag",
            id="412",
        ),
        pytest.param(
            http_error(ResourceExistsError, 409, "BlobAlreadyExists"),
            PreconditionFailedError,
            "ETag",
            id="409-create-only",
        ),
        pytest.param(
            http_error(ResourceExistsError, 409, "LeaseIdMissing"),
            StorageError,
            "LeaseIdMissing",
            id="409-other",
        ),
        pytest.param(
            http_error(HttpResponseError, 403, "AuthorizationPermissionMismatch"),
            StorageError,
            "'Storage Blob Data Contributor' role",
            id="403-role",
        ),
        pytest.param(ClientAuthenticationError("no credential"), StorageError, "az login", id="no-token"),
        pytest.param(
            http_error(HttpResponseError, 503, "ServerBusy"),
            StorageUnavailableError,
            "unreachable at acct.blob.core.windows.net",
            id="503",
        ),
        pytest.param(
            ServiceRequestError("connection refused"),
            StorageUnavailableError,
            "unreachable",
            id="no-connection",
        ),
        pytest.param(ServiceResponseError("reset"), StorageUnavailableError, "unreachable", id="no-response"),
        pytest.param(
            http_error(ResourceExistsError, 409, "ContainerBeingDeleted"),
            StorageUnavailableError,
            "retry in 30 s",
            id="being-deleted",
        ),
        pytest.param(
            http_error(HttpResponseError, 400, "InvalidMetadata"),
            StorageError,
            r"InvalidMetadata \(HTTP 400\)",
            id="other-4xx",
        ),
        pytest.param(
            http_error(ResourceNotFoundError, 404, ""),
            StorageError,
            "without a storage error code",
            id="404-not-from-storage",
        ),
        pytest.param(AzureError("odd"), StorageError, "AzureError", id="other"),
    ],
)
def test_sdk_errors_convert_without_secrets(
    exc: AzureError, expected: type[StorageError], message: str
) -> None:
    converted = convert(exc, SERVICE, "blob k")
    assert type(converted) is expected
    assert re.search(message, str(converted)), converted
    assert KEY not in str(converted)
