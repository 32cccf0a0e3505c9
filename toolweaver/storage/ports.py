"""The ports the core writes through. Adapters implement them; the core never imports an SDK."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class StoredBlob:
    data: bytes
    etag: str
    metadata: Mapping[str, str] = field(default_factory=dict)


class BlobStore(Protocol):
    """Keyed bytes with ETags. Keys are ``/``-separated relative paths.

    ``if_match`` writes only when the current ETag equals it; ``if_none_match=True`` writes only
    when the key does not exist yet (``If-None-Match: *``). A failed condition raises
    PreconditionFailedError, a missing key NotFoundError.
    """

    def get(self, key: str) -> StoredBlob: ...

    def put(
        self,
        key: str,
        data: bytes,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
        metadata: Mapping[str, str] | None = None,
    ) -> str: ...

    def delete(self, key: str, *, if_match: str | None = None) -> None: ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str = "") -> Iterator[str]: ...


class JobQueue(Protocol):
    """A message queue that carries job ids only (claim check: the job itself lives in a blob).

    Messages are text; the adapter encodes them the way the Functions host expects (base64).
    ``visibility_timeout`` delays delivery by that many seconds.
    """

    def send(self, message: str, *, visibility_timeout: int = 0) -> None: ...
