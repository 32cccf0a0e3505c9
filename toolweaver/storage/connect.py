"""Open the Azure Blob and Queue adapters from the app settings the Functions host reads itself.

``AzureWebJobsStorage`` with a value is a connection string (``UseDevelopmentStorage=true`` or a
full string for Azurite or a key); otherwise the ``AzureWebJobsStorage__*`` settings describe an
identity-based connection: ``__accountName``, or ``__blobServiceUri`` and ``__queueServiceUri``,
with ``__credential=managedidentity`` and ``__clientId`` for a user-assigned identity.

Parsing (StorageConfig) needs no SDK; the SDK is imported when a client is first opened, and one
client per settings and container or queue is kept for the life of the process, so connections
and tokens are pooled across invocations.
"""

from __future__ import annotations

import functools
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from toolweaver.errors import ConfigError
from toolweaver.storage.ports import BlobStore, JobQueue

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.storage.blob import BlobServiceClient
    from azure.storage.queue import QueueServiceClient

C = TypeVar("C", "BlobServiceClient", "QueueServiceClient")

logger = logging.getLogger(__name__)

SETTING = "AzureWebJobsStorage"
_DEV_BLOB = "http://127.0.0.1:10000/devstoreaccount1"
_DEV_QUEUE = "http://127.0.0.1:10001/devstoreaccount1"
_ACCOUNT_NAME = re.compile(r"[a-z0-9]{3,24}\Z")
# Containers and queues: 3-63 lowercase letters, digits and single hyphens, alphanumeric at both ends.
_RESOURCE_NAME = re.compile(r"(?!.*--)[a-z0-9][a-z0-9-]{1,61}[a-z0-9]\Z")

# A serverless call should fail within seconds when the account is unreachable, not after the
# SDK's default of minutes: short timeouts and two quick retries. The SDK's ExponentialRetry
# waits initial_backoff + increment_base**n ± jitter; with base 1 that is 0.5-1.5 s per retry,
# as two retries do not need growth. Refused connections fail in about 2 s; a host that never
# accepts in 3 x 3 s + 3 s = 12 s; one that accepts and then stays silent in 3 x 10 s + 3 s.
_CLIENT_OPTIONS: dict[str, Any] = {
    "connection_timeout": 3,
    "read_timeout": 10,
    "retry_total": 2,
    "initial_backoff": 0,
    "increment_base": 1,
    "random_jitter_range": 0.5,
}


@dataclass(frozen=True, repr=False)
class StorageConfig:
    """Where the storage account is and how to sign in. ``repr`` never shows the connection string."""

    connection_string: str | None = None
    blob_service_uri: str | None = None
    queue_service_uri: str | None = None
    credential: str | None = None  # "managedidentity" or None (DefaultAzureCredential either way)
    client_id: str | None = None  # a user-assigned managed identity

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StorageConfig:
        """Read the settings the Functions host reads (default: the process environment)."""
        env = os.environ if environ is None else environ

        def setting(suffix: str) -> str | None:
            return (env.get(SETTING + suffix) or "").strip() or None

        connection_string = setting("")
        if connection_string:
            _connection_endpoints(connection_string)  # fail now, not on first use
            return cls(connection_string=connection_string)
        account = setting("__accountName")
        if account is not None and not _ACCOUNT_NAME.match(account):
            raise ConfigError(
                f"{SETTING}__accountName must be 3-24 lowercase letters and digits, not {account!r}"
            )
        blob = setting("__blobServiceUri") or _account_uri(account, "blob")
        queue = setting("__queueServiceUri") or _account_uri(account, "queue")
        if blob is None and queue is None:
            raise ConfigError(
                f"no storage account configured: set {SETTING} to a connection string "
                f"(UseDevelopmentStorage=true for Azurite), or {SETTING}__accountName (or "
                f"{SETTING}__blobServiceUri and {SETTING}__queueServiceUri) for a managed identity"
            )
        for name, uri in (("__blobServiceUri", blob), ("__queueServiceUri", queue)):
            if uri is not None and (
                urlsplit(uri).scheme not in ("https", "http") or not urlsplit(uri).netloc
            ):
                raise ConfigError(f"{SETTING}{name} must be an https:// URL, not {uri!r}")
        credential = setting("__credential")
        if credential is not None and credential.lower() != "managedidentity":
            raise ConfigError(f"{SETTING}__credential must be 'managedidentity' or unset, not {credential!r}")
        return cls(
            blob_service_uri=blob,
            queue_service_uri=queue,
            credential=credential,
            client_id=setting("__clientId"),
        )

    @property
    def blob_endpoint(self) -> str | None:
        if self.connection_string:
            return _connection_endpoints(self.connection_string)[0]
        return self.blob_service_uri

    @property
    def queue_endpoint(self) -> str | None:
        if self.connection_string:
            return _connection_endpoints(self.connection_string)[1]
        return self.queue_service_uri

    def __repr__(self) -> str:
        secret = "'***'" if self.connection_string else "None"
        return (
            f"StorageConfig(connection_string={secret}, blob_service_uri={self.blob_service_uri!r}, "
            f"queue_service_uri={self.queue_service_uri!r}, credential={self.credential!r}, "
            f"client_id={self.client_id!r})"
        )


def describe(config: StorageConfig) -> str:
    """The endpoints and the kind of sign-in, for logs: no key, token or query string."""
    if config.connection_string:
        auth = "connection string"
    else:
        auth = "managed identity" if config.credential else "DefaultAzureCredential"
        auth += f" (client id {config.client_id})" if config.client_id else ""
    return f"blob {_bare(config.blob_endpoint)}, queue {_bare(config.queue_endpoint)}, {auth}"


def open_blob_store(config: StorageConfig, container: str) -> BlobStore:
    """The BlobStore for one container; the same instance for the same arguments."""
    _check_name("container", container)
    return _blob_store(config, container)


def open_job_queue(config: StorageConfig, queue: str) -> JobQueue:
    """The JobQueue for one queue; the same instance for the same arguments."""
    _check_name("queue", queue)
    return _job_queue(config, queue)


@functools.cache
def _blob_store(config: StorageConfig, container: str) -> BlobStore:
    from toolweaver.storage.azure_blob import AzureBlobStore

    return AzureBlobStore(_blob_service(config).get_container_client(container))


@functools.cache
def _job_queue(config: StorageConfig, queue: str) -> JobQueue:
    from toolweaver.storage.azure_queue import AzureJobQueue

    # No message_encode_policy: AzureJobQueue base64-encodes the messages itself.
    return AzureJobQueue(_queue_service(config).get_queue_client(queue))


@functools.cache
def _blob_service(config: StorageConfig) -> BlobServiceClient:
    from azure.storage.blob import BlobServiceClient

    return _service_client(BlobServiceClient, config, config.blob_endpoint, "__blobServiceUri")


@functools.cache
def _queue_service(config: StorageConfig) -> QueueServiceClient:
    from azure.storage.queue import QueueServiceClient

    return _service_client(QueueServiceClient, config, config.queue_endpoint, "__queueServiceUri")


def _service_client(
    client_class: type[C], config: StorageConfig, endpoint: str | None, uri_setting: str
) -> C:
    if endpoint is None:
        raise ConfigError(
            f"no endpoint for this service: set {SETTING}{uri_setting} or {SETTING}__accountName"
        )
    logger.info("storage: %s", describe(config))
    try:
        if config.connection_string:
            return client_class.from_connection_string(config.connection_string, **_CLIENT_OPTIONS)
        return client_class(endpoint, credential=_credential(config.client_id), **_CLIENT_OPTIONS)
    except ValueError:  # the SDK's message could quote the setting: do not chain it
        raise ConfigError(f"{SETTING} is not usable by the Azure SDK: check its format") from None


@functools.cache
def _credential(client_id: str | None) -> TokenCredential:
    from azure.identity import DefaultAzureCredential

    # One credential per process: it caches tokens, and each new one would fetch its own.
    return DefaultAzureCredential(managed_identity_client_id=client_id)


def _account_uri(account: str | None, service: str) -> str | None:
    return f"https://{account}.{service}.core.windows.net" if account else None


def _connection_endpoints(connection_string: str) -> tuple[str | None, str | None]:
    """Blob and queue endpoints of a connection string, the way the SDK derives them."""
    parts: dict[str, str] = {}
    for item in connection_string.split(";"):
        name, sep, value = item.partition("=")
        if sep:
            parts[name.strip().lower()] = value.strip()
    if parts.get("usedevelopmentstorage", "").lower() == "true":
        return _DEV_BLOB, _DEV_QUEUE
    account = parts.get("accountname")
    protocol = parts.get("defaultendpointsprotocol", "https")
    suffix = parts.get("endpointsuffix", "core.windows.net")

    def endpoint(service: str) -> str | None:
        explicit = parts.get(f"{service}endpoint")
        return explicit or (f"{protocol}://{account}.{service}.{suffix}" if account else None)

    blob, queue = endpoint("blob"), endpoint("queue")
    if blob is None and queue is None:
        raise ConfigError(
            f"{SETTING} is not a storage connection string: expected 'AccountName=...;AccountKey=...' "
            "(or BlobEndpoint=/QueueEndpoint=), or 'UseDevelopmentStorage=true' for Azurite"
        )
    return blob, queue


def _bare(url: str | None) -> str:
    if url is None:
        return "(none)"
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}".rstrip("/")


def _check_name(kind: str, name: str) -> None:
    if not _RESOURCE_NAME.match(name):
        raise ConfigError(
            f"{kind} name {name!r} is not valid in Azure Storage: use 3-63 lowercase letters, digits "
            "and single hyphens, starting and ending with a letter or digit"
        )
