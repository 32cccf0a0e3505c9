"""The production app plus job kinds that only tests need: slow jobs and a job that crashes.

``slow`` and ``crash`` may run again after an interruption (like searches); ``slow-once`` may not
(like runs and asks, whose tools must not be called twice).

The dev host loads this file exactly as it loads the real function_app.py, so the end-to-end
tests drive the real blueprints, storage adapters and queue semantics.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import azure.functions as func

from toolweaver.functions import http, queues, runtime
from toolweaver.jobs.worker import Progress
from toolweaver.services import Services
from toolweaver.settings import Settings

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(http.bp)
app.register_functions(queues.bp)


def _marker(name: str) -> None:
    folder = Path(os.environ["E2E_MARKER_DIR"])
    with (folder / name).open("a", encoding="utf-8") as fh:
        fh.write(f"{os.getpid()}\n")


def slow(payload: dict[str, Any], progress: Progress) -> dict[str, Any]:
    _marker("started")
    time.sleep(float(payload.get("seconds", 3)))
    _marker("finished")
    return {"slept": payload.get("seconds", 3)}


def crash(payload: dict[str, Any], progress: Progress) -> dict[str, Any]:
    raise RuntimeError("this job always crashes the worker")


runtime.use(Services(Settings.from_env()))  # settings of this host, not of an earlier one
runtime.services().job_handlers.update({"slow": slow, "slow-once": slow, "crash": crash})
worker = runtime.services().worker
worker.rerunnable = worker.rerunnable | {"slow", "crash"}
