"""Optional experiment tracking: search evaluations and benchmarks logged to Weights & Biases.

Active only when ``WANDB_PROJECT`` is set; ``WANDB_MODE=offline`` keeps runs on disk (``wandb/``)
without an account. ``wandb`` is a development extra: the deployed app never imports this module.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Mapping
from typing import Any

from toolweaver.errors import ConfigError

log = logging.getLogger(__name__)


def flatten(figures: Mapping[str, Any], prefix: str = "") -> dict[str, float | int | str]:
    """Nested figures as ``a/b`` keys (how W&B groups charts); lists and None are left out."""
    flat: dict[str, float | int | str] = {}
    for key, value in figures.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}/"))
        elif isinstance(value, (int, float, str)):
            flat[name] = value
    return flat


def log_run(
    job_type: str,
    config: Mapping[str, Any],
    figures: Mapping[str, Any],
    *,
    environ: Mapping[str, str] | None = None,
) -> str | None:
    """Log one run's settings and figures when WANDB_PROJECT is set; returns the run's id, else None."""
    env = os.environ if environ is None else environ
    project = env.get("WANDB_PROJECT", "").strip()
    if not project:
        return None
    try:
        wandb = importlib.import_module("wandb")
    except ImportError:
        raise ConfigError(
            "WANDB_PROJECT is set but wandb is not installed: pip install -r requirements-dev.txt"
        ) from None
    run = wandb.init(project=project, job_type=job_type, config=flatten(config))
    try:
        values = flatten(figures)
        run.log(values)
        run.summary.update(values)
    finally:
        run.finish()
    log.info("logged %s run %s to W&B project %s", job_type, run.id, project)
    return str(run.id)
