"""Waiting after a lost ETag race, shared by every read-modify-write loop over a BlobStore."""

from __future__ import annotations

import random


def backoff_after_conflict(attempt: int) -> float:
    """Seconds to wait after the ``attempt``-th lost race: exponential, capped, fully jittered,
    so writers that collided once do not collide again in lockstep."""
    return random.uniform(0, min(0.5, 0.01 * 2**attempt))  # noqa: S311  # nosec B311 - not crypto
