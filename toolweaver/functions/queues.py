"""The job queue and its poison queue. Messages carry only a job id (claim check)."""

from __future__ import annotations

import logging

import azure.functions as func
from azure.functions.warmup import WarmUpContext  # not re-exported by azure.functions 1.26

from toolweaver.functions.runtime import prewarm_in_background, services
from toolweaver.jobs.model import JobMessage
from toolweaver.services import JOBS_QUEUE, POISON_QUEUE

log = logging.getLogger(__name__)
bp = func.Blueprint()  # type: ignore[no-untyped-call]


def _job(msg: func.QueueMessage) -> JobMessage | None:
    job = JobMessage.decode(msg.get_body().decode("utf-8", errors="replace"))
    if job is None:
        # A message that names no job can never succeed: dropping it beats five doomed retries.
        log.warning("dropping queue message %s: not a job message", msg.id)
    return job


@bp.function_name("jobs_run")
@bp.queue_trigger(arg_name="msg", queue_name=JOBS_QUEUE, connection="AzureWebJobsStorage")
def run_job(msg: func.QueueMessage) -> None:
    job = _job(msg)
    if job is not None:
        services().worker.process(job.job_id, trace=job.trace)


@bp.function_name("jobs_poison")
@bp.queue_trigger(arg_name="msg", queue_name=POISON_QUEUE, connection="AzureWebJobsStorage")
def fail_poisoned_job(msg: func.QueueMessage) -> None:
    job = _job(msg)
    if job is not None:
        services().worker.fail_poisoned(job.job_id)


@bp.function_name("warmup")
@bp.warm_up_trigger("warmup")
def warmup(warmup: WarmUpContext) -> None:
    """Premium plans call this before routing traffic to a new instance: load everything now."""
    prewarm_in_background().join()
