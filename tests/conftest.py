from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes import FakeEmbedder, RecordingQueue
from toolweaver.devhost.azurite import Azurite, find_azurite
from toolweaver.errors import ConfigError
from toolweaver.functions import runtime
from toolweaver.services import Services
from toolweaver.settings import DEFAULT_MODEL_DIR, Settings
from toolweaver.storage.filesystem import FileSystemBlobStore

REPO = Path(__file__).resolve().parents[1]
DATASETS = REPO.parent / "shared" / "datasets"


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The exported model (`make model`); tests that need it fail loudly when it is missing."""
    path = Path(os.environ.get("EMBEDDING_MODEL_DIR") or DEFAULT_MODEL_DIR)
    if not (path / "toolweaver-model.json").is_file():
        pytest.fail(f"no exported model in {path}: run `make model` first")
    return path


@pytest.fixture(scope="session")
def datasets() -> Path:
    if not DATASETS.is_dir():
        pytest.skip(f"benchmark datasets not found at {DATASETS}")
    return DATASETS


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """One Azurite for the session (tests marked ``azurite``); a missing install fails, not skips."""
    try:
        find_azurite()
    except ConfigError as exc:
        pytest.fail(f"{exc} (the storage tests need it)")
    with Azurite() as emulator:
        yield emulator


@pytest.fixture
def azurite_connection(azurite: Azurite) -> str:
    """The connection string of the session's Azurite (account key made up for this run)."""
    return azurite.connection_string


@pytest.fixture
def queue() -> RecordingQueue:
    """A JobQueue that keeps what was sent."""
    return RecordingQueue()


@pytest.fixture
def services(tmp_path: Path, queue: RecordingQueue) -> Iterator[Services]:
    """The process-wide Services of the HTTP functions, on filesystem stores and a fake embedder."""
    built = Services(
        Settings(),
        cache_store=FileSystemBlobStore(tmp_path / "cache"),
        jobs_store=FileSystemBlobStore(tmp_path / "jobs"),
        queue=queue,
        embedder=FakeEmbedder(),
    )
    runtime.use(built)
    yield built
    runtime.use(None)
