"""Settings.from_env: defaults, parsing and the errors that name the bad variable."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from toolweaver.errors import ConfigError
from toolweaver.search.engine import MAX_TOP_K
from toolweaver.settings import DEFAULT_MODEL_DIR, DEMO_CATALOG, Settings

INT_SETTINGS = [
    pytest.param("EMBEDDING_THREADS", "embedding_threads", id="threads"),
    pytest.param("EMBEDDING_MAX_LENGTH", "embedding_max_length", id="max-length"),
    pytest.param("SEARCH_TOP_K", "search_top_k", id="top-k"),
]
PATH_SETTINGS = [
    pytest.param("EMBEDDING_MODEL_DIR", "embedding_model_dir", id="model-dir"),
    pytest.param("INDEX_CACHE_DIR", "index_cache_dir", id="cache-dir"),
    pytest.param("CATALOG_PATH", "catalog_path", id="catalog"),
]


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fake home and no XDG cache variable, so defaults do not depend on the machine."""
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    return tmp_path / "home"


def test_defaults_from_an_empty_environment(home: Path) -> None:
    settings = Settings.from_env({})
    assert settings.embedding_model_dir == DEFAULT_MODEL_DIR
    assert settings.embedding_model_dir.name == "all-MiniLM-L6-v2"
    assert settings.embedding_max_length == 256
    assert settings.search_top_k == 5
    assert 1 <= settings.embedding_threads <= 4
    assert settings.embedding_threads <= (os.cpu_count() or 1)
    assert settings.index_cache_dir == home / ".cache" / "toolweaver"
    assert settings.catalog_path == DEMO_CATALOG
    assert DEMO_CATALOG.is_file()


def test_from_env_equals_plain_constructor_without_variables() -> None:
    assert Settings.from_env({}) == Settings()


def test_cache_dir_follows_xdg_cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert Settings.from_env({}).index_cache_dir == tmp_path / "xdg" / "toolweaver"


@pytest.mark.parametrize(
    ("cpus", "threads"),
    [
        pytest.param(None, 1, id="unknown"),
        pytest.param(1, 1, id="one"),
        pytest.param(2, 2, id="two"),
        pytest.param(64, 4, id="capped"),
    ],
)
def test_default_threads_follow_cpu_count(
    monkeypatch: pytest.MonkeyPatch, cpus: int | None, threads: int
) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: cpus)
    assert Settings.from_env({}).embedding_threads == threads


@pytest.mark.parametrize(("variable", "attribute"), INT_SETTINGS)
@pytest.mark.parametrize(
    ("raw", "value"),
    [
        pytest.param("7", 7, id="plain"),
        pytest.param(" 12 ", 12, id="padded"),
        pytest.param("1", 1, id="minimum"),
    ],
)
def test_int_settings_parse(variable: str, attribute: str, raw: str, value: int) -> None:
    settings = Settings.from_env({variable: raw})
    assert getattr(settings, attribute) == value
    others = {f.name for f in dataclasses.fields(Settings)} - {attribute}
    defaults = Settings.from_env({})
    assert all(getattr(settings, name) == getattr(defaults, name) for name in others)


@pytest.mark.parametrize(("variable", "attribute"), INT_SETTINGS)
@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("abc", id="letters"),
        pytest.param("0", id="zero"),
        pytest.param("-3", id="negative"),
        pytest.param("1.5", id="fraction"),
        pytest.param("4 threads", id="trailing-text"),
    ],
)
def test_int_settings_reject_bad_values(variable: str, attribute: str, raw: str) -> None:
    with pytest.raises(ConfigError, match=variable) as info:
        Settings.from_env({variable: raw})
    assert raw.strip() in str(info.value)


@pytest.mark.parametrize(("variable", "attribute"), PATH_SETTINGS)
def test_paths_expand_home(home: Path, variable: str, attribute: str) -> None:
    settings = Settings.from_env({variable: "~/somewhere/else"})
    assert getattr(settings, attribute) == home / "somewhere" / "else"


@pytest.mark.parametrize(("variable", "attribute"), PATH_SETTINGS)
def test_paths_are_taken_as_given(tmp_path: Path, variable: str, attribute: str) -> None:
    settings = Settings.from_env({variable: f"  {tmp_path}/x  "})
    value = getattr(settings, attribute)
    assert isinstance(value, Path)
    assert value == tmp_path / "x"


@pytest.mark.parametrize(
    ("variable", "attribute"),
    [*INT_SETTINGS, *PATH_SETTINGS],
)
@pytest.mark.parametrize("blank", [pytest.param("", id="empty"), pytest.param("  \t", id="spaces")])
def test_blank_values_keep_defaults(variable: str, attribute: str, blank: str) -> None:
    assert getattr(Settings.from_env({variable: blank}), attribute) == getattr(
        Settings.from_env({}), attribute
    )


def test_unrelated_variables_are_ignored() -> None:
    assert Settings.from_env({"PATH": "/bin", "SEARCH_TOPK": "abc"}) == Settings.from_env({})


def test_from_env_defaults_to_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEARCH_TOP_K", "9")
    monkeypatch.setenv("EMBEDDING_THREADS", "3")
    settings = Settings.from_env()
    assert (settings.search_top_k, settings.embedding_threads) == (9, 3)


def test_explicit_mapping_ignores_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEARCH_TOP_K", "abc")
    assert Settings.from_env({}).search_top_k == 5


def test_settings_are_frozen() -> None:
    settings = Settings.from_env({})
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.search_top_k = 10  # type: ignore[misc]


def test_search_top_k_above_the_engine_limit_is_rejected() -> None:
    with pytest.raises(ConfigError, match="SEARCH_TOP_K"):
        Settings.from_env({"SEARCH_TOP_K": str(MAX_TOP_K + 1)})
