"""BlobStore on one Azure Blob Storage container (or Azurite), through azure-storage-blob.

Behaves like FileSystemBlobStore from the caller's side: the same keys, ETag conditions and
errors. Differences that remain are Azure's own limits, checked here before any request:

* metadata keys must be C# identifiers (``expires_at``, not ``expires-at``) and are
  case-insensitive; values must be printable ASCII without leading or trailing spaces (HTTP
  headers would trim them); all of it at most 8 KiB;
* a key is at most 1024 characters.

The container is created on the first write that finds it missing (see CreateOnMissing); a read
of a missing container is simply "not found".
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.blob import ContainerClient

from toolweaver.errors import PreconditionFailedError, StorageError
from toolweaver.storage.azure_errors import AzureService, CreateOnMissing, converted
from toolweaver.storage.ports import StoredBlob

BLOB_ROLE = "Storage Blob Data Contributor"
_METADATA_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_MAX_METADATA_BYTES = 8 * 1024
_MAX_KEY_CHARS = 1024


class AzureBlobStore:
    """Keyed bytes in one container. Thread-safe: share one instance per container and process."""

    def __init__(self, container_client: ContainerClient) -> None:
        self._container = container_client
        self._service = AzureService("Blob Storage", container_client.primary_hostname, BLOB_ROLE)
        self._writes = CreateOnMissing(
            "ContainerNotFound",
            container_client.create_container,
            f"blob container {container_client.container_name} on {self._service.host}",
        )

    @property
    def container_name(self) -> str:
        return str(self._container.container_name)

    def get(self, key: str) -> StoredBlob:
        # download_blob's first response carries the properties: data, ETag and metadata in one GET.
        # A blob over 32 MiB takes more GETs, each If-Match the first ETag, so a concurrent write
        # fails the read instead of mixing two versions.
        changed = f"blob {key} changed while it was read: read it again"
        with converted(self._service, f"blob {_check_key(key)}", precondition=changed):
            downloader = self._container.download_blob(key)
            data = downloader.readall()
            props = downloader.properties
        return StoredBlob(data=data, etag=str(props.etag), metadata=dict(props.metadata or {}))

    def put(
        self,
        key: str,
        data: bytes,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        if if_match is not None and if_none_match:
            raise StorageError(f"put {key}: give if_match or if_none_match, not both")
        blob = self._container.get_blob_client(_check_key(key))
        options: dict[str, Any] = {"overwrite": True, "metadata": check_metadata(metadata)}
        if if_match is not None:
            options.update(etag=if_match, match_condition=MatchConditions.IfNotModified)
            failed = f"blob {key} changed since it was read (ETag mismatch)"
        else:
            # If-None-Match: *  Azure answers 409 BlobAlreadyExists when the blob is there.
            if if_none_match:
                options.update(match_condition=MatchConditions.IfMissing)
            failed = f"blob already exists: {key}"

        def upload() -> str:
            return str(blob.upload_blob(data, **options)["etag"])

        with converted(self._service, f"blob {key}", precondition=failed):
            try:
                return self._writes.run(upload)
            except ResourceNotFoundError as exc:
                if if_match is None:
                    raise
                # If-Match on a blob that is gone: Azurite says 412, Azure may say 404.
                raise PreconditionFailedError(failed) from exc

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        options: dict[str, Any] = {"delete_snapshots": "include"}
        if if_match is not None:
            options.update(etag=if_match, match_condition=MatchConditions.IfNotModified)
        failed = f"blob {key} changed since it was read (ETag mismatch)"
        with converted(self._service, f"blob {_check_key(key)}", precondition=failed):
            self._container.delete_blob(key, **options)

    def exists(self, key: str) -> bool:
        with converted(self._service, f"blob {_check_key(key)}"):
            return bool(self._container.get_blob_client(key).exists())

    def list(self, prefix: str = "") -> Iterator[str]:
        with converted(self._service, f"container {self.container_name}"):
            try:
                yield from self._container.list_blob_names(name_starts_with=prefix or None)
            except ResourceNotFoundError as exc:
                if not self._writes.is_missing(exc):
                    raise


def _check_key(key: str) -> str:
    # "." and ".." segments would be collapsed by URL handling and sign the wrong path.
    if not key or len(key) > _MAX_KEY_CHARS or any(p in ("", ".", "..") for p in key.split("/")):
        raise StorageError(
            f"invalid blob key {key[:80]!r}: use non-empty '/'-separated names without '..', "
            f"at most {_MAX_KEY_CHARS} characters"
        )
    return key


def check_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """Metadata as Azure will store it unchanged, or StorageError naming the first bad entry."""
    checked = dict(metadata or {})
    seen: set[str] = set()
    for name, value in checked.items():
        if not _METADATA_KEY.match(name):
            raise StorageError(
                f"metadata key {name!r} is not allowed by Azure Blob Storage: use letters, digits and "
                "underscores, not starting with a digit (e.g. 'expires_at', not 'expires-at')"
            )
        if name.lower() in seen:
            raise StorageError(f"metadata key {name!r} repeats another key: Azure ignores case in keys")
        seen.add(name.lower())
        if not (value.isascii() and value.isprintable()) or value != value.strip():
            raise StorageError(
                f"metadata value of {name!r} must be printable ASCII without leading or trailing spaces"
            )
    size = sum(len(name) + len(value) for name, value in checked.items())
    if size > _MAX_METADATA_BYTES:
        raise StorageError(f"metadata takes {size} bytes: Azure Blob Storage allows {_MAX_METADATA_BYTES}")
    return checked
