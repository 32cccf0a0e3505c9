"""The deployment package (.funcignore): the model ships; torch, tests, dev tools and secrets do not.

scripts/package_check.py lists the package as azd and func would upload it and checks it; these
tests run it on the repository (which needs the exported model: `make model`) and on small
made-up app folders that each break one rule.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.infra.bicep import IAC_PYTHON, PACKAGE_CHECK, REPO, run_iac

MODEL = "models/all-MiniLM-L6-v2"
APP_FILES = (
    "function_app.py",
    "host.json",
    "requirements.txt",
    "toolweaver/__init__.py",
    f"{MODEL}/model.onnx",
    f"{MODEL}/tokenizer.json",
    f"{MODEL}/toolweaver-model.json",
)


def package_check(root: Path) -> tuple[int, dict[str, Any]]:
    proc = run_iac([IAC_PYTHON, PACKAGE_CHECK, "--root", root, "--json"], timeout=120)
    assert proc.returncode in (0, 1), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


@pytest.fixture
def app(tmp_path: Path) -> Path:
    """A minimal app folder with the repository's .funcignore."""
    shutil.copy(REPO / ".funcignore", tmp_path / ".funcignore")
    for name in APP_FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("numpy\n" if name == "requirements.txt" else "x\n", encoding="utf-8")
    return tmp_path


@pytest.mark.usefixtures("model_dir")
def test_the_repository_package() -> None:
    status, report = package_check(REPO)
    assert report["problems"] == []
    assert status == 0
    files = set(report["files"])
    assert set(APP_FILES) <= files
    tops = {path.split("/", 1)[0] for path in files}
    assert tops <= {"function_app.py", "host.json", "requirements.txt", "toolweaver", "models"}
    assert not [path for path in files if "__pycache__" in path or path.endswith(".pyc")]
    # The size is reported: the model is most of it, and the whole stays small for a cold start.
    assert report["top_level"]["models/"] > report["bytes"] / 2
    assert 0 < report["zip_bytes"] < report["bytes"] < 100 * 2**20


def test_a_clean_app_passes(app: Path) -> None:
    status, report = package_check(app)
    assert (status, report["problems"]) == (0, [])
    assert sorted(report["files"]) == sorted(APP_FILES)


@pytest.mark.parametrize(
    ("files", "unignore", "problem"),
    [
        pytest.param(["tests/test_app.py"], "tests/", "tests would ship", id="tests"),
        pytest.param(["bench/search_bench.py"], "bench/", "benchmarks would ship", id="bench"),
        pytest.param(
            [".venv/lib/python3.11/site-packages/torch/__init__.py"],
            ".venv/",
            "torch would ship",
            id="torch-in-a-venv",
        ),
        pytest.param(["vendor/torch/__init__.py"], None, "torch would ship", id="vendored-torch"),
        pytest.param(["models/other/pytorch_model.bin"], None, "torch model file", id="torch-weights"),
        pytest.param(["node_modules/azurite/index.js"], "node_modules/", "node_modules", id="node-modules"),
        pytest.param(["local.settings.json"], "local.settings.json", "local settings", id="local-settings"),
        pytest.param([".env"], ".env", "environment file", id="dotenv"),
        pytest.param([".azure/dev/config.json"], ".azure/", "environment file", id="azd-environment"),
        pytest.param(["certs/client.pem"], "*.pem", "key or certificate", id="pem"),
        pytest.param([".azurite/blobstorage/data"], ".azurite/", "Azurite data", id="azurite"),
    ],
)
def test_what_must_not_ship_fails(app: Path, files: list[str], unignore: str | None, problem: str) -> None:
    for name in files:
        (app / name).parent.mkdir(parents=True, exist_ok=True)
        (app / name).write_text("x\n", encoding="utf-8")
    status, report = package_check(app)
    assert status == 0 if unignore else 1, report["problems"]  # .funcignore keeps the listed ones out
    if unignore is not None:
        ignore = app / ".funcignore"
        lines = ignore.read_text(encoding="utf-8").splitlines()
        assert unignore in lines
        ignore.write_text("\n".join(line for line in lines if line != unignore) + "\n", encoding="utf-8")
        status, report = package_check(app)
    assert status == 1
    assert any(problem in text for text in report["problems"]), report["problems"]


def test_a_missing_model_fails(app: Path) -> None:
    ignore = app / ".funcignore"
    ignore.write_text(ignore.read_text(encoding="utf-8") + "models/\n", encoding="utf-8")
    status, report = package_check(app)
    assert status == 1
    assert f"missing from the package: {MODEL}/model.onnx (run `make model`)" in report["problems"]


@pytest.mark.parametrize("requirement", ["torch==2.13.0", "sentence-transformers>=5", "optimum[onnxruntime]"])
def test_torch_in_the_remote_build_fails(app: Path, requirement: str) -> None:
    (app / "requirements.txt").write_text(f"numpy\n{requirement}\n", encoding="utf-8")
    status, report = package_check(app)
    assert status == 1
    assert report["problems"] == [f"requirements.txt:2 installs torch in the remote build: {requirement}"]


def test_without_funcignore_nothing_is_checked(app: Path) -> None:
    (app / ".funcignore").unlink()
    proc = run_iac([IAC_PYTHON, PACKAGE_CHECK, "--root", app], timeout=60)
    assert proc.returncode != 0
    assert ".funcignore: not found" in proc.stderr


def test_the_human_report_names_the_size(app: Path) -> None:
    proc = run_iac([IAC_PYTHON, PACKAGE_CHECK, "--root", app], timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Deployment package (.funcignore in" in proc.stdout
    assert "Zipped:" in proc.stdout


def test_zip_holds_exactly_the_package(app: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    archive = tmp_path_factory.mktemp("zip") / "app.zip"
    proc = run_iac([IAC_PYTHON, PACKAGE_CHECK, "--root", app, "--zip", archive], timeout=60)
    assert proc.returncode == 0, proc.stderr
    with zipfile.ZipFile(archive) as package:
        assert sorted(package.namelist()) == sorted(APP_FILES)
        assert package.read("requirements.txt") == b"numpy\n"


def test_no_zip_for_a_failing_package(app: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    (app / "local.settings.json").write_text("{}", encoding="utf-8")
    ignore = app / ".funcignore"
    lines = ignore.read_text(encoding="utf-8").splitlines()
    ignore.write_text("\n".join(line for line in lines if line != "local.settings.json") + "\n")
    archive = tmp_path_factory.mktemp("zip") / "app.zip"
    proc = run_iac([IAC_PYTHON, PACKAGE_CHECK, "--root", app, "--zip", archive], timeout=60)
    assert proc.returncode == 1
    assert not archive.exists()
