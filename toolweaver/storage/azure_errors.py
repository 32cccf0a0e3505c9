"""Turn Azure SDK errors into the StorageError tree, once for the Blob and the Queue adapters.

Also here: creating a container or queue when a write finds it missing, shared by both.
Messages name the account host and the next step, never a key, token or full URL (a SAS would
sit in its query string). The SDK exception stays reachable as ``__cause__`` for the logs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

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
    NotFoundError,
    PreconditionFailedError,
    StorageError,
    StorageUnavailableError,
)

logger = logging.getLogger(__name__)

T = TypeVar("T")

# 409s that only a create-only write (If-None-Match: *) gets: the key exists already.
_ALREADY_EXISTS = frozenset({"BlobAlreadyExists"})
# Codes that clear up by themselves: ask the caller to come back later, not to fix anything.
_TRANSIENT = frozenset({"ServerBusy", "OperationTimedOut", "InternalError"})
# A container or queue that is being deleted cannot be recreated for about 30 s.
_BEING_DELETED = frozenset({"ContainerBeingDeleted", "QueueBeingDeleted"})


@dataclass(frozen=True)
class AzureService:
    """What an error message names: the service, the account host and the RBAC role it needs."""

    name: str  # "Blob Storage"
    host: str  # account host only, e.g. "myaccount.blob.core.windows.net"
    role: str  # the data-plane role the app's identity needs


def convert(
    exc: AzureError, service: AzureService, subject: str, *, precondition: str | None = None
) -> StorageError:
    """The StorageError for one failed SDK call on ``subject`` (e.g. "blob jobs/1.json")."""
    status = exc.status_code if isinstance(exc, HttpResponseError) else None
    code = error_code(exc)
    if isinstance(exc, ClientAuthenticationError) or status in (401, 403):
        return _access_denied(service, status, code)
    if isinstance(exc, ResourceNotFoundError) or status == 404:
        return _not_found(service, subject, code)
    if (
        isinstance(exc, ResourceModifiedError)
        or status == 412
        or (isinstance(exc, ResourceExistsError) and code in _ALREADY_EXISTS)
    ):
        return PreconditionFailedError(precondition or f"{subject}: ETag condition failed")
    if code in _BEING_DELETED:
        return StorageUnavailableError(
            f"{subject}: its container or queue is being deleted on {service.host}; retry in 30 s",
            retry_after=30,
        )
    if isinstance(exc, ServiceRequestError | ServiceResponseError) or _transient(status, code):
        return StorageUnavailableError(
            f"{service.name} is unreachable at {service.host}; retry later, and if it persists check "
            "the account's firewall, private endpoint and status"
        )
    detail = f"{code or 'no error code'} (HTTP {status})" if status else type(exc).__name__
    return StorageError(f"{service.name} request for {subject} failed: {detail}")


def _not_found(service: AzureService, subject: str, code: str | None) -> StorageError:
    if code is None:  # storage always names its 404s: this is some other web server
        return StorageError(
            f"{service.host} answered 404 without a storage error code: check that the "
            "AzureWebJobsStorage endpoint is a storage account"
        )
    return NotFoundError(f"{subject} not found")


def _access_denied(service: AzureService, status: int | None, code: str | None) -> StorageError:
    if status is None:  # no HTTP response: azure.identity could not get a token at all
        return StorageError(
            f"cannot get a token for {service.name} at {service.host}: sign in with `az login` locally, "
            "or check the managed identity and AzureWebJobsStorage__clientId"
        )
    return StorageError(
        f"{service.name} at {service.host} refused access ({code or status}): give the app's identity "
        f"the '{service.role}' role on the storage account, or check the key in AzureWebJobsStorage"
    )


def error_code(exc: AzureError) -> str | None:
    """The storage error code (e.g. "ContainerNotFound"); the storage SDKs add it to the exception."""
    code = getattr(exc, "error_code", None)
    if isinstance(code, Enum):  # StorageErrorCode: str() would give "StorageErrorCode.X"
        code = code.value
    return str(code) if code else None


def _transient(status: int | None, code: str | None) -> bool:
    return (status is not None and (status >= 500 or status == 429)) or code in _TRANSIENT


@contextmanager
def converted(service: AzureService, subject: str, *, precondition: str | None = None) -> Iterator[None]:
    """Run a block of SDK calls; any AzureError leaves it as the matching StorageError."""
    try:
        yield
    except AzureError as exc:
        raise convert(exc, service, subject, precondition=precondition) from exc


class CreateOnMissing:
    """Runs writes; when one finds its container or queue missing, creates it and runs it again.

    Nothing is created up front: a cold start costs no extra request, and an identity allowed to
    read only can still read. The lock keeps concurrent first writes to one create request.
    """

    def __init__(self, missing_code: str, create: Callable[[], object], what: str) -> None:
        self._missing_code = missing_code
        self._create = create
        self._what = what
        self._lock = threading.Lock()

    def is_missing(self, exc: ResourceNotFoundError) -> bool:
        return error_code(exc) == self._missing_code

    def run(self, operation: Callable[[], T]) -> T:
        try:
            return operation()
        except ResourceNotFoundError as exc:
            if not self.is_missing(exc):
                raise
        with self._lock:
            try:
                self._create()
                logger.info("created %s", self._what)
            except ResourceExistsError:
                pass  # another thread or instance was first
        return operation()
