"""function_app.py's functions for tests that call them directly.

``FunctionApp.get_functions()`` may run only once per app, and the dev host re-imports
``function_app`` when it starts, so this module executes its own private copy of the file.
"""

from __future__ import annotations

import importlib.util
from functools import cache

import azure.functions as func

from toolweaver.settings import REPO_DIR


@cache
def functions() -> tuple[func.Function, ...]:
    spec = importlib.util.spec_from_file_location("function_app_under_test", REPO_DIR / "function_app.py")
    if spec is None or spec.loader is None:
        raise RuntimeError("cannot import function_app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return tuple(module.app.get_functions())
