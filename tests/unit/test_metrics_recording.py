"""The metrics that the search service and the job store record, moved by what they did."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tests.fakes import FakeEmbedder, RecordingQueue
from toolweaver.catalog import load_catalog
from toolweaver.jobs import JobStore, JobWorker
from toolweaver.observability.metrics import REGISTRY
from toolweaver.search.service import SearchService
from toolweaver.settings import DEMO_CATALOG, Settings
from toolweaver.storage.filesystem import FileSystemBlobStore


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_index_builds_are_counted_full_then_incremental(tmp_path: Path) -> None:
    demo = load_catalog(DEMO_CATALOG)
    store = FileSystemBlobStore(tmp_path)
    full, incremental = (
        value("toolweaver_index_builds_total", kind="full"),
        value("toolweaver_index_builds_total", kind="incremental"),
    )
    embedded, timed = (
        value("toolweaver_index_tools_embedded_total"),
        value("toolweaver_index_build_seconds_count"),
    )
    SearchService(Settings(), store, embedder=FakeEmbedder()).engine(demo, source="demo")
    tool = demo.get("get_stock_quote")
    changed = demo.with_tools([dataclasses.replace(tool, description=tool.description + " Also crypto.")])
    SearchService(Settings(), store, embedder=FakeEmbedder()).engine(changed, source="demo")
    SearchService(Settings(), store, embedder=FakeEmbedder()).engine(
        changed, source="demo"
    )  # loaded: no build
    assert value("toolweaver_index_builds_total", kind="full") == full + 1
    assert value("toolweaver_index_builds_total", kind="incremental") == incremental + 1
    assert value("toolweaver_index_tools_embedded_total") == embedded + len(demo) + 1
    assert value("toolweaver_index_build_seconds_count") == timed + 2


def test_a_finished_job_records_its_age(tmp_path: Path) -> None:
    jobs = JobStore(FileSystemBlobStore(tmp_path), RecordingQueue())
    worker = JobWorker(jobs, {"echo": lambda payload, progress: payload})
    before = value("toolweaver_job_age_seconds_count", kind="echo", status="succeeded")
    record, _ = jobs.create("echo", {"x": 1})
    worker.process(record.id)
    assert value("toolweaver_job_age_seconds_count", kind="echo", status="succeeded") == before + 1
    assert value("toolweaver_job_age_seconds_sum", kind="echo", status="succeeded") >= 0
