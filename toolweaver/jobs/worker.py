"""Run one delivered job: at-least-once delivery made to look like exactly-once to the caller.

A finished job is never run again (a duplicate delivery is a no-op). Failures of the job's own
work (bad input, unknown tools, any ToolWeaverError but an unavailable store) become a terminal
``failed`` result; anything else propagates so the queue redelivers the message, and after
``maxDequeueCount`` tries the poison handler marks the job failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Protocol

from opentelemetry.trace import SpanKind

from toolweaver.errors import NotFoundError, StorageUnavailableError, ToolWeaverError
from toolweaver.jobs.model import JobRecord
from toolweaver.jobs.store import JobStore
from toolweaver.observability import logs, tracing

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


class JobHandler(Protocol):
    def __call__(self, payload: dict[str, Any], progress: Progress) -> dict[str, Any]: ...


class JobWorker:
    def __init__(self, jobs: JobStore, handlers: Mapping[str, JobHandler]) -> None:
        self.jobs = jobs
        self.handlers = handlers

    def process(self, job_id: str, *, trace: Mapping[str, str] | None = None) -> JobRecord | None:
        """Run the job ``job_id``; returns its final record, or None when there was nothing to do.

        ``trace`` is the W3C context the job was queued in: its span continues that trace.
        """
        attributes = {"toolweaver.job_id": job_id}
        with (
            logs.bound(logs.JOB_ID, job_id),
            tracing.span("job", kind=SpanKind.CONSUMER, attributes=attributes, parent=trace) as span,
        ):
            record = self._process(job_id)
            if record is not None:
                span.set_attribute("toolweaver.job_kind", record.kind)
                span.set_attribute("toolweaver.job_status", record.status)
                if record.status == "failed":
                    tracing.mark_error(span, str((record.error or {}).get("type", "failed")))
            return record

    def _process(self, job_id: str) -> JobRecord | None:
        try:
            record, _ = self.jobs.get(job_id)
        except NotFoundError:
            log.warning("job %s has no record (deleted or never created); dropping the message", job_id)
            return None
        if record.terminal:
            log.info("job %s is already %s; duplicate delivery ignored", job_id, record.status)
            return None
        running = self.jobs.transition(job_id, "running", lambda r: replace(r, attempts=r.attempts + 1))
        if running is None:
            return None
        handler = self.handlers.get(running.kind)
        if handler is None:
            return self._fail(job_id, "UnknownJobKind", f"no handler for job kind {running.kind!r}")
        try:
            result = handler(running.input, self._progress(job_id))
        except StorageUnavailableError:
            raise  # transient: let the queue deliver it again later
        except ToolWeaverError as exc:
            return self._fail(job_id, type(exc).__name__, str(exc))
        return self.jobs.transition(job_id, "succeeded", lambda r: replace(r, result=result, error=None))

    def fail_poisoned(self, job_id: str) -> JobRecord | None:
        """Mark a job whose message crashed the worker on every delivery as failed."""
        reason = (
            "the worker crashed on every delivery of this job (see the logs for the job id); "
            "its message was moved to the poison queue and will not be retried"
        )
        try:
            return self._fail(job_id, "WorkerCrashed", reason)
        except NotFoundError:
            log.warning("poisoned job %s has no record", job_id)
            return None

    def _fail(self, job_id: str, kind: str, detail: str) -> JobRecord | None:
        log.info("job %s failed: %s", job_id, kind)
        error = {"type": kind, "detail": detail}
        return self.jobs.transition(job_id, "failed", lambda r: replace(r, error=error))

    def _progress(self, job_id: str) -> Progress:
        """Progress updates, written at most every tenth of the work so a long job costs few writes."""
        last = [-1]

        def report(done: int, total: int) -> None:
            step = max(1, total // 10)
            if done != total and done - last[0] < step:
                return
            last[0] = done
            try:
                self.jobs.transition(
                    job_id, "running", lambda r: replace(r, progress={"done": done, "total": total})
                )
            except ToolWeaverError as exc:
                log.debug("progress of job %s not recorded: %s", job_id, exc)

        return report
