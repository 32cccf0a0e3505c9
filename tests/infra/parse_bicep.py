"""Parse .bicep files with pycep-parser and print them as one JSON object: {path: {ok, tree|error}}.

Runs in the IaC virtual environment (.venv-iac/bin/python), where pycep-parser is installed;
the tests call it as a process and read the JSON (tests/infra/bicep.py).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pycep import BicepParser


def main(paths: list[str]) -> int:
    parser = BicepParser()
    parsed: dict[str, object] = {}
    for path in paths:
        try:
            parsed[path] = {"ok": True, "tree": parser.parse(file_path=Path(path))}
        except Exception as exc:  # any parser failure is a finding to report
            parsed[path] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    json.dump(parsed, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
