"""Storage ports (small Protocols) and their adapters: filesystem now, Azure Blob/Queue later."""

from __future__ import annotations

from toolweaver.storage.filesystem import FileSystemBlobStore
from toolweaver.storage.ports import BlobStore, StoredBlob

__all__ = ["BlobStore", "FileSystemBlobStore", "StoredBlob"]
