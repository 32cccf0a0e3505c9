"""JobQueue on one Azure Storage queue (or Azurite), through azure-storage-queue.

Messages go out base64-encoded (UTF-8 text, then base64): the Azure Functions queue trigger
decodes base64 by default. The adapter encodes them itself so the encoding does not depend on
how the client was built: give it a QueueClient *without* a ``message_encode_policy``, or every
message would be encoded twice. The queue is created on the first send that finds it missing.
"""

from __future__ import annotations

import base64

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueClient

from toolweaver.errors import StorageError
from toolweaver.storage.azure_errors import AzureService, CreateOnMissing, converted

QUEUE_ROLE = "Storage Queue Data Contributor"
_MAX_MESSAGE_BYTES = 64 * 1024  # after base64, what Azure accepts in one message
_MAX_VISIBILITY_S = 7 * 24 * 3600 - 1


class AzureJobQueue:
    """Sends job ids to one queue. Thread-safe: share one instance per queue and process."""

    def __init__(self, queue_client: QueueClient) -> None:
        self._queue = queue_client
        self._service = AzureService("Queue Storage", queue_client.primary_hostname, QUEUE_ROLE)
        self._writes = CreateOnMissing(
            "QueueNotFound",
            queue_client.create_queue,
            f"queue {queue_client.queue_name} on {self._service.host}",
        )

    @property
    def queue_name(self) -> str:
        return str(self._queue.queue_name)

    def send(self, message: str, *, visibility_timeout: int = 0) -> None:
        encoded = base64.b64encode(message.encode("utf-8")).decode("ascii")
        if len(encoded) > _MAX_MESSAGE_BYTES:
            raise StorageError(
                f"queue message is {len(encoded)} bytes after base64, over Azure's {_MAX_MESSAGE_BYTES}: "
                "send a job id and keep the job itself in a blob"
            )
        if not 0 <= visibility_timeout <= _MAX_VISIBILITY_S:
            raise StorageError(
                f"visibility_timeout must be 0..{_MAX_VISIBILITY_S} s, not {visibility_timeout}"
            )
        delay = visibility_timeout or None  # None leaves the header out: visible at once
        with converted(self._service, f"queue {self.queue_name}"):
            self._writes.run(lambda: self._queue.send_message(encoded, visibility_timeout=delay))

    def approximate_count(self) -> int:
        """Messages waiting, as the service estimates them (for health and scaling checks)."""
        with converted(self._service, f"queue {self.queue_name}"):
            try:
                return int(self._queue.get_queue_properties().approximate_message_count or 0)
            except ResourceNotFoundError as exc:
                if not self._writes.is_missing(exc):
                    raise
                return 0  # not created yet: nothing was ever sent
