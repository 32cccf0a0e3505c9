"""Run one delivered job: at-least-once delivery made to look like exactly-once to the caller.

A finished job is never run again (a duplicate delivery is a no-op). Failures of the job's own
work (bad input, unknown tools, a deadline passed, any ToolWeaverError but an unavailable store)
become a terminal ``failed`` result; anything else propagates so the queue redelivers the message,
and after ``maxDequeueCount`` tries the poison handler marks the job failed.

Each delivery's work must end within ``JOB_SECONDS`` (:mod:`toolweaver.execution.budget`, from
host.json's functionTimeout), so a job fails with its reason recorded before the host would stop
it. A job is ``running`` from the moment its work starts; a delivery that finds it ``running``
comes after one that never finished (the worker crashed, or the host stopped it). Kinds that call
tools are then marked failed, not run again, so no tool is called twice by a redelivery; kinds
named in ``rerunnable`` (searches: no side effects) run again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from typing import Any, Protocol

from opentelemetry.trace import SpanKind

from toolweaver.errors import NotFoundError, StorageUnavailableError, ToolWeaverError
from toolweaver.execution import budget
from toolweaver.jobs.model import JobRecord
from toolweaver.jobs.store import JobStore
from toolweaver.observability import logs, tracing

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


class JobHandler(Protocol):
    def __call__(self, payload: dict[str, Any], progress: Progress) -> dict[str, Any]: ...


INTERRUPTED = (
    "an earlier delivery started this job and did not finish it (the worker crashed, or the host "
    "stopped it at functionTimeout); it may have called tools, so it is not run again: queue it anew"
)


class JobWorker:
    def __init__(
        self,
        jobs: JobStore,
        handlers: Mapping[str, JobHandler],
        *,
        rerunnable: Collection[str] = (),
        seconds: float = budget.JOB_SECONDS,
    ) -> None:
        self.jobs = jobs
        self.handlers = handlers
        self.rerunnable = frozenset(rerunnable)  # kinds safe to run again after an interruption
        self.seconds = seconds  # what one delivery's work may take

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

    def _start(self, job_id: str) -> JobRecord | None:
        """The job moved to ``running`` for this delivery; None when there is nothing to do, and the
        failed record when an earlier delivery was interrupted."""
        try:
            record, _ = self.jobs.get(job_id)
        except NotFoundError:
            log.warning("job %s has no record (deleted or never created); dropping the message", job_id)
            return None
        if record.terminal:
            log.info("job %s is already %s; duplicate delivery ignored", job_id, record.status)
            return None
        if record.status == "running" and record.kind not in self.rerunnable:
            log.warning("job %s was interrupted after it started; marking it failed", job_id)
            return self._fail(job_id, "Interrupted", INTERRUPTED)
        return self.jobs.transition(job_id, "running", lambda r: replace(r, attempts=r.attempts + 1))

    def _process(self, job_id: str) -> JobRecord | None:
        running = self._start(job_id)
        if running is None or running.status != "running":
            return running
        handler = self.handlers.get(running.kind)
        if handler is None:
            return self._fail(job_id, "UnknownJobKind", f"no handler for job kind {running.kind!r}")
        try:
            with budget.deadline_in(self.seconds):
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
