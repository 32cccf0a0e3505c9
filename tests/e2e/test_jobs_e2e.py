"""Jobs end to end: HTTP -> Blob record -> Storage Queue -> dev host queue trigger -> result.

Also the failure paths: a worker killed mid-job (the message is redelivered: a kind that may run
again finishes once, one that calls tools is marked failed and not run again) and a job that always
crashes the worker (poison queue, job reads failed).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.conftest import KEY_OWNER, HostProcess, wait_for
from toolweaver.services import Services

pytestmark = [pytest.mark.azurite, pytest.mark.model, pytest.mark.slow]


def finished(host: HostProcess, job_id: str) -> dict[str, object] | None:
    record = host.request("GET", f"/jobs/{job_id}").json()
    return record if record["status"] in ("succeeded", "failed") else None


def test_a_search_job_runs_through_the_queue_and_idempotency_holds(host: HostProcess) -> None:
    job = {
        "kind": "search",
        "input": {"queries": [{"query": "send an email to my team"}, {"query": "weather"}]},
    }
    created = host.request("POST", "/jobs", job, headers={"Idempotency-Key": "e2e-search-1"})
    assert created.status == 202
    job_id = created.json()["id"]
    again = host.request("POST", "/jobs", job, headers={"Idempotency-Key": "e2e-search-1"})
    assert again.status == 202 and again.json()["id"] == job_id
    record = wait_for(lambda: finished(host, job_id))
    assert record["status"] == "succeeded" and record["attempts"] == 1
    searches = record["result"]["searches"]  # type: ignore[index]
    assert [s["query"] for s in searches] == ["send an email to my team", "weather"]
    assert any("email" in hit["name"] for hit in searches[0]["results"])


def test_a_worker_killed_mid_job_leaves_it_to_be_redelivered_and_finished_once(
    host: HostProcess, services_for: Services
) -> None:
    markers = Path(host.settings["E2E_MARKER_DIR"])
    record, _ = services_for.jobs.create("slow", {"seconds": 4}, owner=KEY_OWNER)
    wait_for((markers / "started").exists, timeout=30)
    host.kill()  # SIGKILL while the job sleeps: no chance to clean up
    assert services_for.jobs.get(record.id)[0].status == "running"
    host.start()
    done = wait_for(lambda: finished(host, record.id), timeout=90)
    assert done["status"] == "succeeded" and done["attempts"] == 2
    assert len((markers / "finished").read_text().split()) == 1  # the killed run never finished


def test_a_job_killed_mid_run_that_may_not_run_again_is_marked_failed_on_redelivery(
    host: HostProcess, services_for: Services
) -> None:
    started = Path(host.settings["E2E_MARKER_DIR"]) / "started"

    def starts() -> int:  # the marker folder is shared by this module's tests
        return len(started.read_text().split()) if started.exists() else 0

    before = starts()
    record, _ = services_for.jobs.create("slow-once", {"seconds": 4}, owner=KEY_OWNER)
    wait_for(lambda: starts() > before, timeout=30)
    host.kill()  # SIGKILL while its work runs
    host.start()
    done = wait_for(lambda: finished(host, record.id), timeout=90)
    assert done["status"] == "failed" and done["error"]["type"] == "Interrupted"  # type: ignore[index]
    assert done["attempts"] == 1
    assert starts() == before + 1  # its work never started again


def test_a_job_that_always_crashes_ends_in_the_poison_queue_and_reads_failed(
    host: HostProcess, services_for: Services
) -> None:
    record, _ = services_for.jobs.create("crash", {}, owner=KEY_OWNER)
    done = wait_for(lambda: finished(host, record.id), timeout=90)
    assert done["status"] == "failed"
    assert done["error"]["type"] == "WorkerCrashed"  # type: ignore[index]
    assert done["attempts"] == 2  # maxDequeueCount in tests/e2e/app/host.json
