"""Jobs: records in a BlobStore, ids on a queue (claim check), ETag-guarded status changes."""

from __future__ import annotations

from toolweaver.jobs.model import JobRecord, JobStatus
from toolweaver.jobs.store import JobStore
from toolweaver.jobs.worker import JobWorker

__all__ = ["JobRecord", "JobStatus", "JobStore", "JobWorker"]
