"""The job record: what was asked, where it stands, and what came of it."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

JobStatus = Literal["queued", "running", "succeeded", "failed"]
TERMINAL: frozenset[str] = frozenset({"succeeded", "failed"})
# queued -> running -> succeeded | failed; running -> running is a redelivery after a crash.
ALLOWED: dict[str, frozenset[str]] = {
    "queued": frozenset({"running", "failed"}),
    "running": frozenset({"running", "succeeded", "failed"}),
    "succeeded": frozenset(),
    "failed": frozenset(),
}


_JOB_ID = re.compile(r"^[0-9a-f]{32}$")  # uuid4().hex, as JobStore.create makes them


def is_job_id(text: str) -> bool:
    """Whether ``text`` has the shape of a job id (checked before any storage lookup)."""
    return _JOB_ID.match(text) is not None


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class JobRecord:
    id: str
    kind: str
    status: JobStatus
    input: dict[str, Any]
    created_at: str
    updated_at: str
    attempts: int = 0
    result: dict[str, Any] | None = None
    error: dict[str, str] | None = None
    progress: dict[str, int] | None = None
    idempotency_key: str | None = field(default=None, repr=False)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    def moved(self, status: JobStatus, **changes: Any) -> JobRecord:
        return replace(self, status=status, updated_at=now_iso(), **changes)

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), separators=(",", ":")).encode()

    @classmethod
    def from_json(cls, data: bytes) -> JobRecord:
        return cls(**json.loads(data))

    def public(self) -> dict[str, Any]:
        """What GET /api/jobs/{id} shows: everything but the idempotency key's value."""
        shown = asdict(self)
        shown.pop("idempotency_key")
        return shown
