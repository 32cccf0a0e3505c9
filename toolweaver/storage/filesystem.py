"""BlobStore on a local directory: the CLI's offline cache and the tests' fast fake.

Writes go to a temporary file and are renamed into place, so a reader never sees half a blob.
The ETag is a hash of the content; metadata lives beside the blob in a ``.meta.json`` file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path

from toolweaver.errors import NotFoundError, PreconditionFailedError, StorageError
from toolweaver.storage.ports import StoredBlob

_META_SUFFIX = ".meta.json"


class FileSystemBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock = threading.Lock()  # makes check-then-write atomic within one process

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if not key or any(p in ("", ".", "..") for p in parts) or key.endswith(_META_SUFFIX):
            raise StorageError(f"invalid blob key {key!r}: use non-empty '/'-separated names without '..'")
        return self.root.joinpath(*parts)

    def get(self, key: str) -> StoredBlob:
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise NotFoundError(f"blob not found: {key}") from None
        except OSError as exc:
            raise StorageError(f"cannot read blob {key}: {exc.strerror}") from exc
        return StoredBlob(data=data, etag=_etag(data), metadata=self._read_meta(path))

    def put(
        self,
        key: str,
        data: bytes,
        *,
        if_match: str | None = None,
        if_none_match: bool = False,
        metadata: Mapping[str, str] | None = None,
    ) -> str:
        path = self._path(key)
        with self._lock:
            self._check(key, path, if_match=if_match, if_none_match=if_none_match)
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                _atomic_write(path, data)
                meta_path = path.with_name(path.name + _META_SUFFIX)
                if metadata:
                    _atomic_write(meta_path, json.dumps(dict(metadata)).encode())
                elif meta_path.exists():
                    meta_path.unlink()
            except OSError as exc:
                raise StorageError(f"cannot write blob {key}: {exc.strerror}") from exc
        return _etag(data)

    def delete(self, key: str, *, if_match: str | None = None) -> None:
        path = self._path(key)
        with self._lock:
            if not path.exists():
                raise NotFoundError(f"blob not found: {key}")
            self._check(key, path, if_match=if_match, if_none_match=False)
            path.unlink()
            path.with_name(path.name + _META_SUFFIX).unlink(missing_ok=True)

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> Iterator[str]:
        if not self.root.is_dir():
            return
        for path in sorted(self.root.rglob("*")):
            if path.is_file() and not path.name.endswith(_META_SUFFIX) and not path.name.startswith(".tmp-"):
                key = path.relative_to(self.root).as_posix()
                if key.startswith(prefix):
                    yield key

    def _check(self, key: str, path: Path, *, if_match: str | None, if_none_match: bool) -> None:
        if if_none_match and path.exists():
            raise PreconditionFailedError(f"blob already exists: {key}")
        if if_match is not None:
            current = _etag(path.read_bytes()) if path.exists() else None
            if current != if_match:
                raise PreconditionFailedError(f"blob {key} changed since it was read (ETag mismatch)")

    @staticmethod
    def _read_meta(path: Path) -> dict[str, str]:
        meta_path = path.with_name(path.name + _META_SUFFIX)
        try:
            loaded = json.loads(meta_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        return {str(k): str(v) for k, v in loaded.items()}


def _etag(data: bytes) -> str:
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def _atomic_write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
