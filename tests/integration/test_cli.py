"""The command line as a user meets it: real processes, the real model, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli import run_cli

pytestmark = pytest.mark.model


@pytest.fixture
def cache_env(tmp_path: Path, model_dir: Path) -> dict[str, str]:
    return {"INDEX_CACHE_DIR": str(tmp_path / "cache"), "EMBEDDING_MODEL_DIR": str(model_dir)}


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) >= 1
    message = lines[-1]
    for needle in needles:
        assert needle in message, message


@pytest.mark.parametrize(
    "command",
    [
        pytest.param([], id="top"),
        *(pytest.param([c], id=c) for c in ("search", "index", "eval-search", "export-model", "demo")),
    ],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = run_cli(*command, "--help")
    assert result.returncode == 0
    assert "usage:" in result.stdout


def test_search_json_finds_the_weather_tool(cache_env: dict[str, str]) -> None:
    result = run_cli("search", "is it raining in Berlin right now", "--json", "--top-k", "3", env=cache_env)
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    names = [hit["name"] for hit in payload["hits"]]
    assert len(names) == 3
    assert names[0] == "get_weather"
    assert payload["hits"][0]["explanation"]


def test_index_reports_only_changed_tools_embedded(tmp_path: Path, cache_env: dict[str, str]) -> None:
    from toolweaver.catalog import Tool, dump_catalog, load_catalog
    from toolweaver.settings import DEMO_CATALOG

    catalog = load_catalog(DEMO_CATALOG)
    path = tmp_path / "catalog.json"
    dump_catalog(catalog, path)
    first = json.loads(run_cli("index", "--catalog", str(path), "--json", env=cache_env).stdout)
    assert first["embedded"] == len(catalog)

    changed = catalog.tools[0]
    edited = Tool.from_dict({**changed.to_dict(), "description": changed.description + " Also handles hail."})
    dump_catalog(catalog.with_tools([edited]), path)
    second = json.loads(run_cli("index", "--catalog", str(path), "--json", env=cache_env).stdout)
    assert (second["embedded"], second["reused"]) == (1, len(catalog) - 1)

    third = json.loads(run_cli("index", "--catalog", str(path), "--json", env=cache_env).stdout)
    assert third["source"] == "store"


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        pytest.param(["search", "   "], ["query is empty"], id="empty-query"),
        pytest.param(
            ["search", "weather", "--catalog", "nope.yaml"], ["not found", "nope.yaml"], id="missing-catalog"
        ),
        pytest.param(["search", "weather", "--top-k", "0"], ["top_k"], id="bad-top-k"),
    ],
)
def test_bad_input_gives_one_line_error(
    args: list[str], needles: list[str], cache_env: dict[str, str]
) -> None:
    assert_one_line_error(run_cli(*args, env=cache_env), *needles)


def test_bad_catalog_file_names_tool_and_field(tmp_path: Path, cache_env: dict[str, str]) -> None:
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps(
            {"tools": [{"name": "ok_tool", "description": "fine"}, {"name": "bad tool!", "description": "x"}]}
        )
    )
    assert_one_line_error(run_cli("search", "x", "--catalog", str(path), env=cache_env), "bad.json", "name")


def test_unknown_mode_lists_valid_ones(cache_env: dict[str, str]) -> None:
    result = run_cli("search", "weather", "--mode", "fuzzy", env=cache_env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "hybrid" in result.stderr and "bm25" in result.stderr and "dense" in result.stderr


def test_missing_model_says_how_to_get_it(tmp_path: Path) -> None:
    result = run_cli(
        "search",
        "weather",
        env={"EMBEDDING_MODEL_DIR": str(tmp_path / "none"), "INDEX_CACHE_DIR": str(tmp_path)},
    )
    assert_one_line_error(result, "make model")


def test_bad_setting_names_the_variable(cache_env: dict[str, str]) -> None:
    result = run_cli("search", "weather", env={**cache_env, "EMBEDDING_THREADS": "lots"})
    assert_one_line_error(result, "EMBEDDING_THREADS")


def test_search_never_imports_torch_or_transformers(cache_env: dict[str, str]) -> None:
    full_env = {**os.environ, **cache_env}
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "toolweaver", "search", "send an email"],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    imported = {
        line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines() if "|" in line
    }
    assert "onnxruntime" in imported  # the check itself sees what search really imports
    forbidden = {"torch", "transformers", "sentence_transformers", "optimum"} & imported
    assert not forbidden


def test_eval_search_prints_one_json_object(datasets: Path, cache_env: dict[str, str]) -> None:
    result = run_cli(
        "eval-search",
        "--tools", str(datasets / "gorilla" / "torchhub_tools.jsonl"),
        "--queries", str(datasets / "gorilla" / "torchhub_queries.jsonl"),
        "--relevant-field", "relevant_same_api_call",
        "--limit", "40",
        "--json",
        env=cache_env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    expected = {
        "queries",
        "ndcg@5",
        "ndcg@10",
        "recall@5",
        "recall@10",
        "mrr@10",
        "hit@1",
        "hit@5",
        "latency_ms",
    }
    assert expected <= payload.keys()
    assert payload["queries"] == 40
    assert 0.0 <= payload["hit@1"] <= payload["hit@5"] <= 1.0
    assert payload["latency_ms"]["p50"] <= payload["latency_ms"]["p95"]


def test_eval_search_unknown_split_lists_splits(datasets: Path, cache_env: dict[str, str]) -> None:
    result = run_cli(
        "eval-search",
        "--tools", str(datasets / "metatool" / "tools.jsonl"),
        "--queries", str(datasets / "metatool" / "queries.jsonl"),
        "--split", "triple",
        env=cache_env,
    )  # fmt: skip
    assert_one_line_error(result, "single", "multi")


def test_demo_runs_without_a_terminal(cache_env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "toolweaver", "demo"],
        capture_output=True,
        text=True,
        env={**os.environ, **cache_env},
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "convert_currency" in result.stdout
