"""Jobs: claim-check create, idempotency, ETag-guarded transitions, duplicate and poison delivery."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.fakes import RecordingQueue
from toolweaver.errors import RequestError, SearchError, StorageUnavailableError
from toolweaver.jobs import JobStore, JobWorker
from toolweaver.jobs.model import JobMessage
from toolweaver.jobs.worker import Progress
from toolweaver.storage.filesystem import FileSystemBlobStore


class Handlers:
    def __init__(self) -> None:
        self.calls = 0
        self.behaviour = "ok"

    def __call__(self, payload: dict[str, Any], progress: Progress) -> dict[str, Any]:
        self.calls += 1
        if self.behaviour == "expected":
            raise SearchError("the query is empty")
        if self.behaviour == "crash":
            raise RuntimeError("worker bug")
        if self.behaviour == "unavailable":
            raise StorageUnavailableError("down")
        progress(1, 1)
        return {"echo": payload}


@pytest.fixture
def queue() -> RecordingQueue:
    return RecordingQueue()


@pytest.fixture
def jobs(tmp_path: Path, queue: RecordingQueue) -> JobStore:
    return JobStore(FileSystemBlobStore(tmp_path), queue)


@pytest.fixture
def handler() -> Handlers:
    return Handlers()


@pytest.fixture
def worker(jobs: JobStore, handler: Handlers) -> JobWorker:
    return JobWorker(jobs, {"echo": handler, "tool-run": handler}, rerunnable={"echo"})


def test_create_stores_a_queued_record_and_sends_only_its_id(jobs: JobStore, queue: RecordingQueue) -> None:
    record, created = jobs.create("echo", {"big": "x" * 1000})
    assert created and record.status == "queued"
    assert queue.messages == [record.id]
    assert jobs.get(record.id)[0].input == {"big": "x" * 1000}


def test_the_same_idempotency_key_returns_the_first_job(jobs: JobStore, queue: RecordingQueue) -> None:
    first, _ = jobs.create("echo", {"a": 1}, idempotency_key="k-1")
    again, created = jobs.create("echo", {"a": 1}, idempotency_key="k-1")
    assert not created and again.id == first.id
    assert queue.messages == [first.id]


def test_reusing_a_key_for_another_request_is_refused(jobs: JobStore) -> None:
    jobs.create("echo", {"a": 1}, idempotency_key="k-2")
    with pytest.raises(RequestError) as err:
        jobs.create("echo", {"a": 2}, idempotency_key="k-2")
    assert err.value.status == 422


def test_a_failed_send_leaves_nothing_behind_so_a_retry_starts_clean(
    jobs: JobStore, queue: RecordingQueue
) -> None:
    queue.fail_with = StorageUnavailableError("queue down")
    with pytest.raises(StorageUnavailableError):
        jobs.create("echo", {"a": 1}, idempotency_key="k-3")
    assert list(jobs.store.list("")) == []
    queue.fail_with = None
    record, created = jobs.create("echo", {"a": 1}, idempotency_key="k-3")
    assert created and queue.messages == [record.id]


def test_a_job_runs_to_succeeded_with_its_result(jobs: JobStore, worker: JobWorker) -> None:
    record, _ = jobs.create("echo", {"a": 1})
    done = worker.process(record.id)
    assert done is not None and done.status == "succeeded"
    assert done.result == {"echo": {"a": 1}} and done.attempts == 1
    assert done.progress == {"done": 1, "total": 1}


def test_a_duplicate_delivery_of_a_finished_job_does_nothing(
    jobs: JobStore, worker: JobWorker, handler: Handlers
) -> None:
    record, _ = jobs.create("echo", {})
    worker.process(record.id)
    before = jobs.get(record.id)
    assert worker.process(record.id) is None
    assert handler.calls == 1 and jobs.get(record.id) == before


@pytest.mark.parametrize(
    ("behaviour", "error_type"),
    [pytest.param("expected", "SearchError", id="own-failure")],
)
def test_a_failure_of_the_jobs_own_work_is_a_terminal_result(
    jobs: JobStore, worker: JobWorker, handler: Handlers, behaviour: str, error_type: str
) -> None:
    handler.behaviour = behaviour
    record, _ = jobs.create("echo", {})
    done = worker.process(record.id)
    assert done is not None and done.status == "failed"
    assert done.error is not None and done.error["type"] == error_type


@pytest.mark.parametrize(
    "behaviour", [pytest.param("crash", id="bug"), pytest.param("unavailable", id="storage")]
)
def test_crashes_propagate_so_the_queue_redelivers_and_a_rerunnable_kind_finishes_once(
    jobs: JobStore, worker: JobWorker, handler: Handlers, behaviour: str
) -> None:
    handler.behaviour = behaviour
    record, _ = jobs.create("echo", {})
    with pytest.raises((RuntimeError, StorageUnavailableError)):
        worker.process(record.id)
    assert jobs.get(record.id)[0].status == "running"
    handler.behaviour = "ok"
    done = worker.process(record.id)  # the redelivery
    assert done is not None and done.status == "succeeded" and done.attempts == 2


@pytest.mark.parametrize(
    "behaviour", [pytest.param("crash", id="bug"), pytest.param("unavailable", id="storage")]
)
def test_a_redelivered_job_that_calls_tools_is_marked_failed_not_run_again(
    jobs: JobStore, worker: JobWorker, handler: Handlers, behaviour: str
) -> None:
    handler.behaviour = behaviour
    record, _ = jobs.create("tool-run", {})
    with pytest.raises((RuntimeError, StorageUnavailableError)):
        worker.process(record.id)
    handler.behaviour = "ok"
    done = worker.process(record.id)  # the redelivery
    assert handler.calls == 1  # its tools are not called again
    assert done is not None and done.status == "failed" and done.attempts == 1
    assert done.error is not None and done.error["type"] == "Interrupted"
    assert "not run again" in done.error["detail"]


def test_a_job_past_its_deadline_fails_with_the_reason_and_is_not_rerun(jobs: JobStore) -> None:
    import asyncio

    from toolweaver.execution.loop import run_sync

    calls: list[int] = []

    def slow(payload: dict[str, Any], progress: Progress) -> dict[str, Any]:
        calls.append(1)
        return run_sync(asyncio.sleep(30, result={}), timeout=60)  # its own limit is longer

    worker = JobWorker(jobs, {"run": slow}, seconds=0.2)
    record, _ = jobs.create("run", {})
    done = worker.process(record.id)
    assert done is not None and done.status == "failed"
    assert done.error is not None and done.error["type"] == "DeadlineExceededError"
    assert "functionTimeout" in done.error["detail"]
    assert worker.process(record.id) is None and calls == [1]  # a duplicate delivery does nothing


def test_the_poison_handler_marks_the_job_failed_with_the_reason(
    jobs: JobStore, worker: JobWorker, handler: Handlers
) -> None:
    handler.behaviour = "crash"
    record, _ = jobs.create("echo", {})
    with pytest.raises(RuntimeError):
        worker.process(record.id)
    failed = worker.fail_poisoned(record.id)
    assert failed is not None and failed.status == "failed"
    assert failed.error is not None and "poison" in failed.error["detail"]
    assert worker.fail_poisoned(record.id) is None  # already terminal: no change


def test_unknown_kinds_and_missing_records_end_quietly(jobs: JobStore, worker: JobWorker) -> None:
    record, _ = jobs.create("nobody-runs-this", {})
    done = worker.process(record.id)
    assert done is not None and done.status == "failed"
    assert worker.process("0" * 32) is None
    assert worker.fail_poisoned("0" * 32) is None


JOB = "0123456789abcdef0123456789abcdef"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (JOB, JobMessage(JOB)),
        (f"  {JOB}\n", JobMessage(JOB)),
        (
            json.dumps({"job_id": JOB, "traceparent": "00-abc-def-01", "other": "x"}),
            JobMessage(JOB, {"traceparent": "00-abc-def-01"}),
        ),
        ("not a job", None),
        (json.dumps({"job_id": "../../etc"}), None),
        (json.dumps([JOB]), None),
        ("{", None),
    ],
)
def test_job_messages_decode_ids_with_or_without_a_trace(text: str, expected: JobMessage | None) -> None:
    assert JobMessage.decode(text) == expected


def test_job_messages_round_trip_and_stay_bare_without_a_trace() -> None:
    assert JobMessage(JOB).encode() == JOB
    traced = JobMessage(JOB, {"traceparent": "00-1-2-01"})
    assert JobMessage.decode(traced.encode()) == traced
