"""CatalogStore: seeding, versions, ETag-guarded writes without lost updates, refresh."""

from __future__ import annotations

from pathlib import Path

import pytest

from toolweaver.catalog import Catalog, Tool
from toolweaver.catalog.store import HEAD_KEY, CatalogStore, tool_etag
from toolweaver.errors import PreconditionFailedError, ToolNotFoundError
from toolweaver.settings import DEMO_CATALOG
from toolweaver.storage.filesystem import FileSystemBlobStore


def tool(name: str, description: str = "does a thing") -> Tool:
    return Tool(name=name, description=description)


@pytest.fixture
def blobs(tmp_path: Path) -> FileSystemBlobStore:
    return FileSystemBlobStore(tmp_path / "blobs")


def test_an_empty_store_is_seeded_once_from_the_seed_file(blobs: FileSystemBlobStore) -> None:
    first = CatalogStore(blobs, seed=DEMO_CATALOG).current()
    second = CatalogStore(blobs, seed=None).current()  # a second instance finds the seeded version
    assert first.version == second.version == 1
    assert len(first.catalog) > 10
    assert second.catalog.catalog_hash == first.catalog.catalog_hash


def test_changes_make_new_versions_and_are_visible_to_other_instances(blobs: FileSystemBlobStore) -> None:
    writer = CatalogStore(blobs, refresh_seconds=0)
    reader = CatalogStore(blobs, refresh_seconds=0)
    assert len(reader.current().catalog) == 0
    version, created = writer.put_tool(tool("a.one"))
    assert created and version.version == 2
    version, created = writer.put_tool(tool("a.one", "changed"))
    assert not created and version.version == 3
    assert reader.current().catalog.get("a.one").description == "changed"
    writer.delete_tool("a.one")
    assert "a.one" not in reader.current().catalog


def test_two_writers_racing_both_land_and_no_update_is_lost(blobs: FileSystemBlobStore) -> None:
    first = CatalogStore(blobs, refresh_seconds=0)
    second = CatalogStore(blobs, refresh_seconds=0)
    first.current()
    raced = []

    def change_with_interference(catalog: Catalog) -> Catalog:
        if not raced:  # while the first writer works, the second one lands a change
            raced.append(True)
            second.put_tool(tool("from.second"))
        return catalog.with_tools([tool("from.first")])

    result = first.update(change_with_interference)
    names = set(result.catalog.names)
    assert {"from.first", "from.second"} <= names
    assert CatalogStore(blobs).current().catalog.names == result.catalog.names
    assert result.version == 3  # seed 1, second's write 2, first's retried write 3


def test_if_match_guards_a_tool_against_a_stale_writer(blobs: FileSystemBlobStore) -> None:
    store = CatalogStore(blobs)
    store.put_tool(tool("x.y"))
    seen = tool_etag(store.current().catalog.get("x.y"))
    store.put_tool(tool("x.y", "someone else's edit"))
    with pytest.raises(PreconditionFailedError):
        store.put_tool(tool("x.y", "my edit"), if_match=seen)
    with pytest.raises(PreconditionFailedError):
        store.delete_tool("x.y", if_match=seen)
    assert store.current().catalog.get("x.y").description == "someone else's edit"


def test_deleting_an_unknown_tool_says_so(blobs: FileSystemBlobStore) -> None:
    with pytest.raises(ToolNotFoundError):
        CatalogStore(blobs).delete_tool("nope")


def test_an_instance_rereads_the_head_only_after_the_refresh_interval(blobs: FileSystemBlobStore) -> None:
    now = [0.0]
    reader = CatalogStore(blobs, refresh_seconds=10, clock=lambda: now[0])
    writer = CatalogStore(blobs, refresh_seconds=0)
    reader.current()
    writer.put_tool(tool("late.tool"))
    now[0] = 5.0
    assert "late.tool" not in reader.current().catalog
    now[0] = 10.5
    assert "late.tool" in reader.current().catalog


def test_import_replace_swaps_the_whole_catalog(blobs: FileSystemBlobStore) -> None:
    store = CatalogStore(blobs)
    store.import_tools([tool("a"), tool("b")])
    assert store.import_tools([tool("c")], replace=True).catalog.names == ("c",)


def test_old_versions_are_pruned_and_the_head_stays_readable(blobs: FileSystemBlobStore) -> None:
    store = CatalogStore(blobs)
    for i in range(45):
        store.put_tool(tool(f"t{i}"))
    versions = list(blobs.list("catalog/versions/"))
    assert len(versions) < 30
    assert blobs.exists(HEAD_KEY)
    assert len(CatalogStore(blobs).current().catalog) == 45
