"""Skill health: how well a saved skill does, from its runs and the ratings callers give it.

Each skill has one small JSON record in Blob Storage (``skills/stats/<name>.json``), shared by
every instance and updated with ETag-guarded writes, so no run or rating is lost to a race.

The health score (0 to 1, higher is better) combines four parts, each 0 to 1:

- success: (succeeded + 1) / (runs + 2). Smoothed so one lucky or unlucky run does not decide.
- rating: the mean rating with two imagined ratings of 3 added, mapped from 1..5 to 0..1.
- recency: 0.5 ** (days since last use / 7): halves every week unused; 0 when never run.
- speed: 1 / (1 + mean latency in seconds): 0.5 at one second; 0.5 before the first run.

score = 0.4 * success + 0.3 * rating + 0.15 * recency + 0.15 * speed
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from toolweaver.errors import NotFoundError, PreconditionFailedError, StorageError
from toolweaver.storage.conflicts import backoff_after_conflict
from toolweaver.storage.ports import BlobStore

log = logging.getLogger(__name__)

WEIGHTS = {"success": 0.4, "rating": 0.3, "recency": 0.15, "speed": 0.15}
PRIOR_RATINGS = 2  # imagined ratings of PRIOR_RATING each: a first 1-star rating is not the verdict
PRIOR_RATING = 3.0
RECENCY_HALF_LIFE_DAYS = 7.0
LATENCY_SMOOTHING = 0.2  # weight of the newest run in the moving mean of latency
_MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class SkillStats:
    runs: int = 0
    succeeded: int = 0
    latency_ms: float = 0.0  # exponential moving mean over runs
    last_used: float = 0.0  # epoch seconds of the last run (meaningless while runs == 0)
    ratings: int = 0
    rating_sum: int = 0

    def with_run(self, succeeded: bool, latency_ms: float, now: float) -> SkillStats:
        mean = (
            latency_ms
            if self.runs == 0
            else self.latency_ms + LATENCY_SMOOTHING * (latency_ms - self.latency_ms)
        )
        return replace(
            self,
            runs=self.runs + 1,
            succeeded=self.succeeded + int(succeeded),
            latency_ms=round(mean, 2),
            last_used=now,
        )

    def with_rating(self, rating: int) -> SkillStats:
        return replace(self, ratings=self.ratings + 1, rating_sum=self.rating_sum + rating)

    def health(self, now: float) -> dict[str, Any]:
        """The score and the parts it is made of, as the API shows them."""
        rating = (self.rating_sum + PRIOR_RATINGS * PRIOR_RATING) / (self.ratings + PRIOR_RATINGS)
        parts = {
            "success": (self.succeeded + 1) / (self.runs + 2),
            "rating": (rating - 1) / 4,
            "recency": 0.5 ** (max(0.0, now - self.last_used) / 86400 / RECENCY_HALF_LIFE_DAYS)
            if self.runs
            else 0.0,
            "speed": 1 / (1 + self.latency_ms / 1000) if self.runs else 0.5,
        }
        score = sum(WEIGHTS[name] * value for name, value in parts.items())
        return {
            "score": round(score, 3),
            "parts": {name: round(value, 3) for name, value in parts.items()},
            "runs": self.runs,
            "success_rate": round(self.succeeded / self.runs, 3) if self.runs else None,
            "mean_latency_ms": self.latency_ms if self.runs else None,
            "last_used": datetime.fromtimestamp(self.last_used, UTC).isoformat(timespec="seconds")
            if self.runs
            else None,
            "ratings": self.ratings,
            "mean_rating": round(self.rating_sum / self.ratings, 2) if self.ratings else None,
        }


class SkillStatsStore:
    """The stats records, read and changed with ETag conditions (a lost race re-applies the change)."""

    PREFIX = "skills/stats/"

    def __init__(self, store: BlobStore, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def get(self, name: str) -> SkillStats:
        try:
            return _parse(self.store.get(self._key(name)).data)
        except NotFoundError:
            return SkillStats()

    def update(self, name: str, change: Callable[[SkillStats], SkillStats]) -> SkillStats:
        key = self._key(name)
        for attempt in range(_MAX_ATTEMPTS):
            try:
                blob = self.store.get(key)
                current, etag = _parse(blob.data), blob.etag
            except NotFoundError:
                current, etag = SkillStats(), None
            changed = change(current)
            data = json.dumps(asdict(changed), separators=(",", ":")).encode()
            try:
                if etag is None:
                    self.store.put(key, data, if_none_match=True)
                else:
                    self.store.put(key, data, if_match=etag)
                return changed
            except PreconditionFailedError:
                time.sleep(backoff_after_conflict(attempt))
        raise StorageError(
            f"the stats of skill {name!r} are changing too fast: gave up after repeated conflicts"
        )

    def record_run(self, name: str, succeeded: bool, latency_ms: float) -> None:
        """Count a run; a storage problem is logged, never raised: the run itself already happened."""
        now = self.clock()
        try:
            self.update(name, lambda stats: stats.with_run(succeeded, latency_ms, now))
        except StorageError as exc:
            log.warning("run of skill %s not counted in its health: %s", name, exc)

    def rate(self, name: str, rating: int) -> SkillStats:
        return self.update(name, lambda stats: stats.with_rating(rating))

    def delete(self, name: str) -> None:
        with contextlib.suppress(NotFoundError):
            self.store.delete(self._key(name))

    def _key(self, name: str) -> str:
        return f"{self.PREFIX}{name}.json"


def _parse(data: bytes) -> SkillStats:
    raw = json.loads(data)
    known = {k: raw[k] for k in SkillStats.__dataclass_fields__ if k in raw}
    return SkillStats(**known)
