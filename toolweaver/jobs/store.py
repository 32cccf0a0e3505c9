"""Job records and idempotency keys in a BlobStore; messages on a JobQueue.

    jobs/<id>.json                         the record; every status change is an ETag-guarded write
    idempotency/<sha256(owner, key)>.json  {"job_id", "request"}: created with If-None-Match: *

A job belongs to the caller that created it (``owner``, the caller's id as the rate limiter
knows it): another caller neither reads it nor gets it back through the same Idempotency-Key,
because keys are scoped per owner, as payment APIs scope them per account.

Creating writes the record, claims the idempotency key, then sends the job id. When the send fails
the record and the claim are removed again, so a retry with the same key starts clean and no job
waits forever for a message that was never sent.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

from toolweaver.errors import JobError, NotFoundError, PreconditionFailedError, RequestError, StorageError
from toolweaver.jobs.model import ALLOWED, TERMINAL, JobMessage, JobRecord, JobStatus, now_iso
from toolweaver.observability import tracing
from toolweaver.observability.metrics import JOB_AGE, JOBS
from toolweaver.storage.ports import BlobStore, JobQueue

log = logging.getLogger(__name__)

_MAX_ATTEMPTS = 5


def _record_key(job_id: str) -> str:
    return f"jobs/{job_id}.json"


def _idempotency_key(key: str, owner: str) -> str:
    scoped = json.dumps([owner, key]).encode()  # JSON: no owner/key split can collide with another
    return f"idempotency/{hashlib.sha256(scoped).hexdigest()}.json"


def _fingerprint(kind: str, payload: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps([kind, payload], sort_keys=True).encode()).hexdigest()


class JobStore:
    def __init__(self, store: BlobStore, queue: JobQueue) -> None:
        self.store = store
        self.queue = queue

    def create(
        self, kind: str, payload: dict[str, Any], *, idempotency_key: str | None = None, owner: str = ""
    ) -> tuple[JobRecord, bool]:
        """Store a queued job and send its id. Returns the job and False when ``owner`` used the key
        before."""
        if idempotency_key is not None:
            earlier = self._earlier(idempotency_key, owner, kind, payload)
            if earlier is not None:
                return earlier, False
        stamp = now_iso()
        record = JobRecord(
            uuid.uuid4().hex,
            kind,
            "queued",
            payload,
            stamp,
            stamp,
            idempotency_key=idempotency_key,
            owner=owner,
        )
        self.store.put(_record_key(record.id), record.to_json(), if_none_match=True)
        if idempotency_key is not None:
            claim = json.dumps({"job_id": record.id, "request": _fingerprint(kind, payload)}).encode()
            try:
                self.store.put(_idempotency_key(idempotency_key, owner), claim, if_none_match=True)
            except PreconditionFailedError:
                self._discard(record, None)  # a concurrent request with the same key won
                earlier = self._earlier(idempotency_key, owner, kind, payload)
                if earlier is None:
                    raise JobError("the idempotency key is being used right now; retry") from None
                return earlier, False
        try:
            self.queue.send(JobMessage(record.id, tracing.carrier()).encode())
        except StorageError:
            self._discard(record, idempotency_key)
            raise
        JOBS.labels(kind, "queued").inc()
        return record, True

    def _earlier(self, key: str, owner: str, kind: str, payload: dict[str, Any]) -> JobRecord | None:
        try:
            claim = json.loads(self.store.get(_idempotency_key(key, owner)).data)
        except NotFoundError:
            return None
        if claim.get("request") != _fingerprint(kind, payload):
            raise RequestError(
                "this Idempotency-Key was already used for a different request: use a new key",
                status=422,
            )
        return self.get(str(claim["job_id"]))[0]

    def _discard(self, record: JobRecord, idempotency_key: str | None) -> None:
        claim = [_idempotency_key(idempotency_key, record.owner)] if idempotency_key else []
        keys = [_record_key(record.id), *claim]
        for key in keys:
            try:
                self.store.delete(key)
            except StorageError as exc:
                log.warning("could not remove %s after a failed create: %s", key, exc)

    def get(self, job_id: str, *, owner: str | None = None) -> tuple[JobRecord, str]:
        """The record and its ETag; NotFoundError names the id, also when ``owner`` (if given) did
        not create it: another caller's job is as absent as one that never was."""
        try:
            blob = self.store.get(_record_key(job_id))
        except NotFoundError:
            raise NotFoundError(f"job {job_id!r} does not exist") from None
        try:
            record = JobRecord.from_json(blob.data)
        except (ValueError, TypeError) as exc:
            raise StorageError(f"job record {job_id} is damaged: {exc}") from exc
        if owner is not None and record.owner != owner:
            raise NotFoundError(f"job {job_id!r} does not exist")
        return record, blob.etag

    def transition(
        self, job_id: str, status: JobStatus, change: Callable[[JobRecord], JobRecord] | None = None
    ) -> JobRecord | None:
        """Move a job to ``status`` with an ETag-guarded write; None when it may not move there.

        A concurrent writer makes the If-Match fail; the change is then re-decided on the fresh
        record, so two workers never both move one job and no status is overwritten blindly.
        """
        for _ in range(_MAX_ATTEMPTS):
            record, etag = self.get(job_id)
            if status not in ALLOWED[record.status]:
                return None
            moved = record.moved(status)
            if change is not None:
                moved = change(moved)
            try:
                self.store.put(_record_key(job_id), moved.to_json(), if_match=etag)
            except PreconditionFailedError:
                continue
            JOBS.labels(record.kind, status).inc()
            if status in TERMINAL:
                JOB_AGE.labels(record.kind, status).observe(
                    _seconds_between(moved.created_at, moved.updated_at)
                )
            return moved
        raise JobError(f"job {job_id} kept changing under us; giving up this delivery")


def _seconds_between(start: str, end: str) -> float:
    return max(0.0, (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds())
