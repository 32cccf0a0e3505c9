"""Catalog files (our JSON/YAML format), dataset JSON Lines files and the demo catalog."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from toolweaver.catalog import Catalog, Tool, dump_catalog, load_catalog, load_dataset_tools
from toolweaver.catalog.model import NAME_PATTERN, sanitize_name
from toolweaver.errors import CatalogError
from toolweaver.settings import DEMO_CATALOG

REPO = Path(__file__).resolve().parents[2]
DATASETS = REPO.parent / "shared" / "datasets"

TOOLS: list[dict[str, Any]] = [
    {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        "tags": ["weather"],
        "backend": "http",
    },
    {"name": "send_email", "description": "Send an email.", "title": "Email"},
]

YAML_TEXT = """\
version: 1
tools:
  - name: get_weather
    description: Current weather for a city.
    parameters:
      type: object
      properties:
        city: {type: string}
      required: [city]
    tags: [weather]
    backend: http
  - name: send_email
    title: Email
    description: Send an email.
"""


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- our format --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "text"),
    [
        pytest.param("c.json", json.dumps({"tools": TOOLS}), id="json-object"),
        pytest.param("c.json", json.dumps({"version": 1, "tools": TOOLS}), id="json-versioned"),
        pytest.param("c.json", json.dumps(TOOLS), id="json-list"),
        pytest.param("c.yaml", YAML_TEXT, id="yaml"),
        pytest.param("c.YML", YAML_TEXT, id="yml-upper"),
    ],
)
def test_load_catalog_formats(tmp_path: Path, filename: str, text: str) -> None:
    catalog = load_catalog(write(tmp_path / filename, text))
    assert catalog.names == ("get_weather", "send_email")
    assert catalog.catalog_hash == Catalog(Tool.from_dict(t) for t in TOOLS).catalog_hash
    assert catalog.get("get_weather").tags == ("weather",)


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".yml"])
def test_dump_then_load_round_trips(tmp_path: Path, suffix: str) -> None:
    original = load_catalog(DEMO_CATALOG)
    target = tmp_path / "sub" / f"out{suffix}"
    dump_catalog(original, target)
    again = load_catalog(target)
    assert again.names == original.names
    assert again.catalog_hash == original.catalog_hash
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temp files left behind


def test_dump_json_is_our_format(tmp_path: Path) -> None:
    target = tmp_path / "c.json"
    dump_catalog(Catalog([Tool.from_dict(TOOLS[1])]), target)
    assert json.loads(target.read_text(encoding="utf-8")) == {
        "version": 1,
        "tools": [
            {
                "name": "send_email",
                "title": "Email",
                "description": "Send an email.",
                "parameters": {"type": "object", "properties": {}},
                "backend": "none",
            }
        ],
    }


def test_dump_rejects_unknown_suffix(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match=r"\.json, \.yaml, \.yml"):
        dump_catalog(Catalog(), tmp_path / "c.jsonl")


def test_bad_json_names_path_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "c.json", '{\n  "tools": [\n    {"name": "x",,}\n  ]\n}\n')
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    assert str(path) in str(info.value)
    assert "line 3" in str(info.value)


def test_bad_yaml_names_path_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "c.yaml", "tools:\n  - name: x\n    description: [unclosed\n  - name: y\n")
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    message = str(info.value)
    assert str(path) in message
    assert re.search(r"line [34]\b", message), message


def test_bad_tool_names_file_tool_and_field(tmp_path: Path) -> None:
    bad = [TOOLS[0], {"name": "send_email", "description": "x", "parameters": {"type": "array"}}]
    path = write(tmp_path / "c.json", json.dumps({"tools": bad}))
    with pytest.raises(CatalogError) as info:
        load_catalog(path)
    message = str(info.value)
    assert str(path) in message
    assert "tools[1]" in message
    assert "'send_email'" in message
    assert "parameters.type" in message


def test_entry_without_name_is_named_by_index(tmp_path: Path) -> None:
    path = write(tmp_path / "c.json", json.dumps([TOOLS[0], TOOLS[1], {"description": "no name"}]))
    with pytest.raises(CatalogError, match=r"tools\[2\].*'name'"):
        load_catalog(path)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        pytest.param(
            json.dumps({"tools": TOOLS, "extra": 1}), "unknown top-level key 'extra'", id="extra-key"
        ),
        pytest.param(json.dumps({"version": 2, "tools": TOOLS}), "unsupported catalog version", id="version"),
        pytest.param(json.dumps({"tools": {"a": 1}}), "expected a list of tools", id="tools-dict"),
        pytest.param(json.dumps("just text"), "expected a list of tools", id="scalar"),
        pytest.param(json.dumps([TOOLS[0], "x"]), r"tools\[1\]: expected a tool object", id="entry-str"),
        pytest.param(json.dumps([TOOLS[0], TOOLS[0]]), "duplicate tool name 'get_weather'", id="duplicate"),
    ],
)
def test_bad_documents(tmp_path: Path, text: str, problem: str) -> None:
    path = write(tmp_path / "c.json", text)
    with pytest.raises(CatalogError, match=problem) as info:
        load_catalog(path)
    assert str(path) in str(info.value)


def test_empty_yaml_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="expected a list of tools"):
        load_catalog(write(tmp_path / "c.yaml", "# nothing here\n"))


def test_yaml_values_that_are_not_json_are_rejected(tmp_path: Path) -> None:
    text = (
        "- name: t\n  description: d\n  examples:\n    - request: when\n      arguments: {day: 2025-01-01}\n"
    )
    with pytest.raises(CatalogError, match="not plain JSON"):
        load_catalog(write(tmp_path / "c.yaml", text))


def test_unknown_suffix_lists_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(CatalogError) as info:
        load_catalog(write(tmp_path / "c.txt", "[]"))
    for suffix in (".json", ".yaml", ".yml", ".jsonl"):
        assert suffix in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.yaml"
    with pytest.raises(CatalogError, match=f"catalog file not found: {re.escape(str(path))}"):
        load_catalog(path)


def test_importing_the_package_loads_nothing_heavy() -> None:
    code = (
        "import sys, toolweaver.catalog;"
        "heavy = [m for m in ('yaml', 'jsonschema', 'pydantic', 'torch', 'numpy') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


# --- dataset format ----------------------------------------------------------------------------------


def dataset_line(**fields: Any) -> str:
    record = {
        "id": "t1",
        "name": "Tool One",
        "description": "Does one thing.",
        "parameters": None,
        "text": "x",
    }
    record.update(fields)
    return json.dumps(record)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(None, {"type": "object", "properties": {}}, id="null"),
        pytest.param("N/A", {"type": "object", "properties": {}}, id="string"),
        pytest.param(["model_url"], {"type": "object", "properties": {}}, id="list"),
        pytest.param(
            {"pretrained": "True", "input_shape": [224, 224, 3]},
            {
                "type": "object",
                "properties": {
                    "pretrained": {"description": "True"},
                    "input_shape": {"description": "[224, 224, 3]"},
                },
            },
            id="name-value-dict",
        ),
        pytest.param(
            {"model name": 1, "model_name": 2},
            {
                "type": "object",
                "properties": {"model_name_2": {"description": "1"}, "model_name": {"description": "2"}},
            },
            id="keys-sanitized-only-if-needed",
        ),
        pytest.param(
            {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
            {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
            id="schema-kept",
        ),
        pytest.param(
            {"properties": {"q": {"type": "string"}}},
            {"type": "object", "properties": {"q": {"type": "string"}}},
            id="schema-without-type",
        ),
    ],
)
def test_dataset_parameters_mapping(tmp_path: Path, raw: Any, expected: dict[str, Any]) -> None:
    path = write(tmp_path / "tools.jsonl", dataset_line(parameters=raw) + "\n")
    tool = load_dataset_tools(path).get("t1")
    assert tool.parameters == expected


def test_dataset_record_mapping(tmp_path: Path) -> None:
    lines = [
        dataset_line(id="PDF&URLTool", name="PDF&URLTool", domain="Documents"),
        "",
        dataset_line(id="hf_1", name="YituTech/conv-bert-base", description="", text="fallback text"),
    ]
    catalog = load_catalog(write(tmp_path / "tools.jsonl", "\n".join(lines) + "\n"))
    assert catalog.names == ("PDF_URLTool", "hf_1")
    first, second = catalog.tools
    assert (first.title, first.description, first.tags, first.backend) == (
        "PDF&URLTool",
        "Does one thing.",
        ("Documents",),
        "none",
    )
    assert (second.title, second.description, second.tags) == ("YituTech/conv-bert-base", "fallback text", ())


def test_dataset_bad_json_line_names_path_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "tools.jsonl", dataset_line() + "\n" + dataset_line(id="t2") + "\n{broken\n")
    with pytest.raises(CatalogError) as info:
        load_dataset_tools(path)
    assert str(path) in str(info.value)
    assert "line 3" in str(info.value)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        pytest.param("[1, 2]", "expected a JSON object", id="not-object"),
        pytest.param(json.dumps({"name": "x", "description": "d"}), "record has no usable 'id'", id="no-id"),
    ],
)
def test_dataset_bad_records(tmp_path: Path, line: str, problem: str) -> None:
    path = write(tmp_path / "tools.jsonl", dataset_line() + "\n" + line + "\n")
    with pytest.raises(CatalogError, match=f"line 2: {problem}"):
        load_dataset_tools(path)


def test_dataset_duplicate_ids(tmp_path: Path) -> None:
    path = write(tmp_path / "tools.jsonl", dataset_line() + "\n" + dataset_line() + "\n")
    with pytest.raises(CatalogError, match="duplicate tool name 't1'"):
        load_dataset_tools(path)


def test_dataset_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="catalog file not found"):
        load_dataset_tools(tmp_path / "nope.jsonl")


DATASET_FILES = [
    pytest.param("metatool/tools.jsonl", 199, id="metatool"),
    pytest.param("gorilla/torchhub_tools.jsonl", 94, id="torchhub"),
    pytest.param("gorilla/tensorflowhub_tools.jsonl", 696, id="tensorflowhub"),
    pytest.param("gorilla/huggingface_tools.jsonl", 936, id="huggingface"),
]


@pytest.mark.parametrize(("relative", "count"), DATASET_FILES)
def test_real_dataset_files_load(relative: str, count: int) -> None:
    path = DATASETS / relative
    if not path.is_file():
        pytest.skip(f"dataset not available: {path}")
    catalog = load_dataset_tools(path)
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(catalog) == count == len(records)
    assert len(set(catalog.names)) == count
    assert all(NAME_PATTERN.match(name) for name in catalog.names)
    assert catalog.names == tuple(
        r["id"] if NAME_PATTERN.match(r["id"]) else sanitize_name(r["id"]) for r in records
    )
    assert [tool.title for tool in catalog] == [r["name"] for r in records]
    assert all(tool.description.strip() for tool in catalog)


def test_loading_a_dataset_twice_gives_the_same_catalog() -> None:
    # How long loading takes is a benchmark's business (the cold start in bench/RESULTS.md).
    path = DATASETS / "gorilla" / "huggingface_tools.jsonl"
    if not path.is_file():
        pytest.skip(f"dataset not available: {path}")
    first, second = load_dataset_tools(path), load_dataset_tools(path)
    assert first.names == second.names and len(first) == 936
    assert [tool.content_hash for tool in first] == [tool.content_hash for tool in second]


# --- demo catalog ------------------------------------------------------------------------------------


def test_demo_catalog_is_realistic() -> None:
    catalog = load_catalog(DEMO_CATALOG)
    assert 25 <= len(catalog) <= 40
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", name) for name in catalog.names)
    assert all(tool.backend in ("python", "http") and tool.tags for tool in catalog)
    assert sum(tool.returns is not None for tool in catalog) >= 2
    assert sum(bool(tool.examples) for tool in catalog) >= 5
    for tool in catalog:
        properties = tool.parameters.get("properties", {})
        for example in tool.examples:
            assert set(example["arguments"]) <= set(properties), tool.name
            assert set(tool.parameters.get("required", [])) <= set(example["arguments"]), tool.name
        if tool.backend == "http":
            assert set(tool.backend_config["parameters"]) == set(properties), tool.name
