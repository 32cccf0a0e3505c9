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


@dataclass(frozen=True)
class JobMessage:
    """What a queue message carries: the job's id (claim check) and the trace it was queued in."""

    job_id: str
    trace: dict[str, str] = field(default_factory=dict)  # W3C traceparent/tracestate

    def encode(self) -> str:
        """The bare id when there is no trace (the smallest message), else a small JSON object."""
        if not self.trace:
            return self.job_id
        return json.dumps({"job_id": self.job_id, **self.trace}, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str) -> JobMessage | None:
        """The message's job and trace; None when it is neither a job id nor such an object."""
        text = text.strip()
        if is_job_id(text):
            return cls(text)
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict) or not is_job_id(str(data.get("job_id", ""))):
            return None
        trace = {k: v for k, v in data.items() if k in ("traceparent", "tracestate") and isinstance(v, str)}
        return cls(data["job_id"], trace)


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
    owner: str = field(default="", repr=False)  # who created it (the caller's id); only they see it

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
        """What GET /api/jobs/{id} shows: everything but the idempotency key's value and the owner."""
        shown = asdict(self)
        shown.pop("idempotency_key")
        shown.pop("owner")
        return shown
