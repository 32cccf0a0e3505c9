"""Shared test doubles: a deterministic bag-of-words embedder that needs no model files."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from toolweaver.search.tokenize import split_words

DEFAULT_DIMENSION = 64


class FakeEmbedder:
    """Implements the ``Embedder`` protocol: hashed word counts, L2-normalised, float32.

    Each lower-cased word (``split_words``) lands in one of ``dimension`` buckets chosen by sha256,
    so vectors are equal across processes. A text without words embeds as the first unit vector.
    ``calls`` counts ``embed`` calls and ``texts_embedded`` the texts embedded, so tests can check
    that an index reuses vectors instead of recomputing them.
    """

    def __init__(
        self, *, dimension: int = DEFAULT_DIMENSION, fingerprint: str = "fake-bow-v1", batch_size: int = 8
    ) -> None:
        if dimension < 1 or batch_size < 1:
            raise ValueError("dimension and batch_size must be positive")
        self._dimension = dimension
        self._fingerprint = fingerprint
        self.batch_size = batch_size
        self.calls = 0
        self.texts_embedded = 0
        self.embedded: list[str] = []

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    @property
    def dimension(self) -> int:
        return self._dimension

    def bucket(self, word: str) -> int:
        digest = hashlib.sha256(word.encode("utf-8")).digest()
        return int.from_bytes(digest[:8], "big") % self._dimension

    def vector(self, text: str) -> npt.NDArray[np.float32]:
        row = np.zeros(self._dimension, dtype=np.float64)
        for word in split_words(text):
            row[self.bucket(word)] += 1.0
        norm = float(np.linalg.norm(row))
        if norm == 0.0:
            row[0] = 1.0
            norm = 1.0
        return (row / norm).astype(np.float32)

    def embed(
        self, texts: Sequence[str], *, progress: Callable[[int], None] | None = None
    ) -> npt.NDArray[np.float32]:
        self.calls += 1
        self.texts_embedded += len(texts)
        self.embedded.extend(texts)
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            batch = texts[start : start + self.batch_size]
            for offset, text in enumerate(batch):
                out[start + offset] = self.vector(text)
            if progress is not None:
                progress(len(batch))
        return out

    def reset_counts(self) -> None:
        self.calls = 0
        self.texts_embedded = 0
        self.embedded.clear()


class RecordingQueue:
    """Implements ``JobQueue``: keeps sent messages in a list; ``fail_with`` makes send raise."""

    def __init__(self) -> None:
        self.messages: list[str] = []
        self.fail_with: Exception | None = None

    def send(self, message: str, *, visibility_timeout: int = 0) -> None:
        if self.fail_with is not None:
            raise self.fail_with
        self.messages.append(message)
