"""List the function app's deployment package from .funcignore, check it, and report its size.

    .venv-iac/bin/python scripts/package_check.py [--root DIR] [--json] [--zip FILE]

The package is every file under the root that ``.funcignore`` (gitignore syntax, read with
pathspec as git would) does not exclude: what ``azd deploy`` and ``func azure functionapp
publish`` upload. The check fails (exit status 1) when the package would ship:

- torch, or a model in a torch format, or a requirements.txt that installs torch in the remote build;
- tests, benchmarks, or development tools and their caches (virtual environments, node_modules,
  Azurite data);
- local settings or secrets (local.settings.json, .env files, keys and certificates, .azure/);

or when it would miss a file the app needs to start, the exported ONNX model above all. It then
zips the package and reports its size, packed and unpacked; ``--zip FILE`` also writes that zip,
for ``az functionapp deployment source config-zip``.

Standalone on purpose: it imports nothing from toolweaver and needs only pathspec.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pathspec

ROOT = Path(__file__).resolve().parents[1]
IGNORE_FILE = ".funcignore"
MODEL_DIR = "models/all-MiniLM-L6-v2"

# Files the app cannot start without (function_app.py imports the package; the search loads the model).
REQUIRED = (
    "function_app.py",
    "host.json",
    "requirements.txt",
    "toolweaver/__init__.py",
    f"{MODEL_DIR}/model.onnx",
    f"{MODEL_DIR}/tokenizer.json",
    f"{MODEL_DIR}/toolweaver-model.json",
)

# (what, pattern on the package-relative POSIX path): none of these may ship.
FORBIDDEN: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (what, re.compile(pattern))
    for what, pattern in (
        ("torch", r"(^|/)(torch|torchvision|functorch)(/|-[^/]*\.dist-info/)"),
        ("torch model file", r"\.(pt|pth|ckpt|safetensors)$|(^|/)pytorch_model\.bin$"),
        ("tests", r"^tests/|(^|/)conftest\.py$|(^|/)\.pytest_cache/|(^|/)\.hypothesis/"),
        ("benchmarks", r"^bench/"),
        ("virtual environment", r"(^|/)\.venv[^/]*/|(^|/)site-packages/"),
        ("node_modules", r"(^|/)node_modules/"),
        ("Azurite data", r"^\.azurite/|(^|/)__azurite_db_|(^|/)__(blob|queue)storage__/"),
        ("dev tool caches", r"(^|/)\.(mypy_cache|ruff_cache)/"),
        ("local settings", r"(^|/)local\.settings\.json$"),
        ("environment file", r"(^|/)\.env(\.[^/]*)?$|^\.azure/"),
        ("key or certificate", r"\.(pem|pfx|p12|key)$|(^|/)id_(rsa|ed25519)$"),
        ("git metadata", r"^\.git/"),
    )
)

# Packages that would pull torch into the remote build (requirements.txt is what Azure installs).
TORCH_REQUIREMENTS = re.compile(
    r"^\s*(torch|torchvision|sentence-transformers|optimum|optimum-onnx|transformers)\b", re.IGNORECASE
)


@dataclass
class Package:
    root: Path
    files: list[tuple[str, int]] = field(default_factory=list)  # (relative POSIX path, bytes)
    problems: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return sum(size for _, size in self.files)

    def paths(self) -> set[str]:
        return {path for path, _ in self.files}


def read_ignore(root: Path) -> pathspec.PathSpec:
    ignore = root / IGNORE_FILE
    if not ignore.is_file():
        raise SystemExit(f"{ignore}: not found (without it, azd and func would upload everything)")
    return pathspec.GitIgnoreSpec.from_lines(ignore.read_text(encoding="utf-8").splitlines())


def walk(root: Path, spec: pathspec.PathSpec) -> Iterator[tuple[str, int]]:
    """Files the package holds, skipping ignored directories without entering them."""
    for dirpath, dirnames, filenames in os.walk(root):
        base = PurePosixPath(Path(dirpath).relative_to(root).as_posix())
        kept = []
        for name in sorted(dirnames):
            rel = (base / name).as_posix().removeprefix("./")
            if not spec.match_file(rel + "/"):
                kept.append(name)
        dirnames[:] = kept
        for name in sorted(filenames):
            rel = (base / name).as_posix().removeprefix("./")
            path = Path(dirpath) / name
            if not spec.match_file(rel) and path.is_file():
                yield rel, path.stat().st_size


def check(root: Path) -> Package:
    package = Package(root, sorted(walk(root, read_ignore(root))))
    paths = package.paths()
    for what, pattern in FORBIDDEN:
        hits = sorted(path for path in paths if pattern.search(path))
        if hits:
            shown = ", ".join(hits[:3]) + (f" and {len(hits) - 3} more" if len(hits) > 3 else "")
            package.problems.append(f"{what} would ship: {shown}")
    for required in REQUIRED:
        if required not in paths:
            hint = " (run `make model`)" if required.startswith(MODEL_DIR) else ""
            package.problems.append(f"missing from the package: {required}{hint}")
    requirements = root / "requirements.txt"
    if requirements.is_file():
        for number, line in enumerate(requirements.read_text(encoding="utf-8").splitlines(), 1):
            if TORCH_REQUIREMENTS.match(line):
                package.problems.append(
                    f"requirements.txt:{number} installs torch in the remote build: {line.strip()}"
                )
    return package


def zipped(package: Package) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path, _ in package.files:
            archive.write(package.root / path, path)
    return buffer.getvalue()


def top_level(package: Package) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for path, size in package.files:
        head = path.split("/", 1)[0] + ("/" if "/" in path else "")
        sizes[head] = sizes.get(head, 0) + size
    return dict(sorted(sizes.items(), key=lambda item: -item[1]))


def mib(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="the function app folder (default: the repo)")
    parser.add_argument("--json", action="store_true", help="print a JSON report")
    parser.add_argument("--zip", type=Path, help="also write the package to this zip file (if it passes)")
    args = parser.parse_args(argv)
    package = check(args.root.resolve())
    archive = zipped(package)
    packed = len(archive)
    if args.zip is not None and not package.problems:
        args.zip.write_bytes(archive)
    if args.json:
        report = {
            "ok": not package.problems,
            "problems": package.problems,
            "files": [path for path, _ in package.files],
            "file_count": len(package.files),
            "bytes": package.size,
            "zip_bytes": packed,
            "top_level": top_level(package),
        }
        print(json.dumps(report, indent=2))
    else:
        count = len(package.files)
        print(f"Deployment package ({IGNORE_FILE} in {package.root}): {count} files, {mib(package.size)}")
        for head, size in top_level(package).items():
            print(f"  {mib(size):>10}  {head}")
        print(f"Zipped: {mib(packed)}")
        for problem in package.problems:
            print(f"FAIL: {problem}", file=sys.stderr)
    return 1 if package.problems else 0


if __name__ == "__main__":
    sys.exit(main())
