"""eval-search logs its figures and settings to Weights & Biases when WANDB_PROJECT is set
(offline here: the run lands in WANDB_DIR), and does nothing W&B-related otherwise."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.cli import run_cli

pytest.importorskip("wandb")

TOOLS = [
    {"id": "t1", "name": "get_weather", "description": "Current weather and forecast for a city"},
    {"id": "t2", "name": "send_email", "description": "Send an email message to a recipient"},
    {"id": "t3", "name": "convert_currency", "description": "Convert an amount between currencies"},
]
QUERIES = [
    {"id": "q1", "text": "is it going to rain in Oslo", "relevant": ["t1"]},
    {"id": "q2", "text": "mail my landlord about the rent", "relevant": ["t2"]},
    {"id": "q3", "text": "how many yen is 20 euros", "relevant": ["t3"]},
]


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def eval_search(tmp_path: Path, model_dir: Path, **env: str) -> dict[str, float]:
    result = run_cli(
        "eval-search",
        "--tools", str(write_jsonl(tmp_path / "tools.jsonl", TOOLS)),
        "--queries", str(write_jsonl(tmp_path / "queries.jsonl", QUERIES)),
        "--json",
        env={"INDEX_CACHE_DIR": str(tmp_path / "cache"), "EMBEDDING_MODEL_DIR": str(model_dir), **env},
        drop=("WANDB_",),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout))


def logged_values(run_file: bytes, key: str) -> list[object]:
    """The JSON values logged under ``key`` in a run's record log (.wandb): each history and summary
    item is a protobuf message with the key in field 2 and the value as JSON text in field 16."""
    name = key.encode()
    pattern = re.compile(rb"\x12" + bytes([len(name)]) + re.escape(name) + rb"\x82\x01(.)", re.S)
    values = []
    for match in pattern.finditer(run_file):
        start = match.end()
        values.append(json.loads(run_file[start : start + match[1][0]]))
    return values


def test_an_offline_run_holds_the_figures_and_the_settings(tmp_path: Path, model_dir: Path) -> None:
    figures = eval_search(
        tmp_path, model_dir, WANDB_PROJECT="toolweaver-test", WANDB_MODE="offline", WANDB_DIR=str(tmp_path)
    )
    (run,) = (tmp_path / "wandb").glob("offline-run-*/run-*.wandb")
    records = run.read_bytes()
    assert logged_values(records, "queries") and set(logged_values(records, "queries")) == {3}
    assert set(logged_values(records, "ndcg@10")) == {figures["ndcg@10"]}
    assert set(logged_values(records, "latency_ms/p95")) == {figures["latency_ms"]["p95"]}  # type: ignore[index]
    assert b"embedding_max_length" in records and b"relevant_field" in records  # the settings


def test_without_a_project_nothing_is_logged(tmp_path: Path, model_dir: Path) -> None:
    eval_search(tmp_path, model_dir, WANDB_DIR=str(tmp_path))
    assert not (tmp_path / "wandb").exists()
