"""Tuning a fusion method's constants on some sets: random search, coordinate refinement, a listwise fit."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import _fusion_eval  # noqa: F401  (registers the set-level methods)
import numpy as np
from _fusion_eval import Prepared, baselines, metric, objective, scores_of
from _fusion_methods import METHODS, Batch, features, z

SPACES: dict[str, dict[str, list[float]]] = {
    "convex z-score (shipped before)": {
        "w": [0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5],
        "clause": [0.0, 0.25, 0.5, 0.75, 1.0],
    },
    "convex min-max": {
        "w": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
        "clause": [0.0, 0.25, 0.5, 0.75, 1.0],
    },
    "reciprocal rank fusion": {
        "k": [1.0, 3.0, 10.0, 20.0, 40.0, 60.0, 100.0],
        "w": [0.2, 0.3, 0.4, 0.5, 0.6],
        "clause": [0.0, 0.25, 0.5, 0.75, 1.0],
    },
    "adaptive z-score": {
        "lo": [0.0, 0.05, 0.1, 0.15, 0.2, 0.25],
        "hi": [0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6],
        "mid": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0],
        "slope": [0.5, 1.0, 2.0, 4.0],
        "gamma": [0.0, 0.5, 1.0, 2.0, 4.0],
        "clause": [0.25, 0.5, 0.75, 1.0],
    },
    "adaptive min-max": {
        "lo": [0.0, 0.05, 0.1, 0.15, 0.2],
        "hi": [0.2, 0.25, 0.3, 0.35, 0.4, 0.5],
        "mid": [-2.0, 0.0, 2.0, 3.0, 4.0, 6.0],
        "slope": [0.5, 1.0, 2.0],
        "gamma": [0.0, 0.5, 1.0, 2.0],
        "alpha": [0.0, 0.5, 1.0, 2.0, 4.0],
        "clause": [0.5, 0.75, 1.0],
    },
    "dense feedback over the top 50": {
        "w": [0.2],
        "clause": [1.0],
        "k": [1, 2, 3, 5],
        "g": [0.0, 0.05, 0.1, 0.2, 0.3],
    },
    "calibrated log-odds": {
        "ab": [0.5, 1.0, 2.0, 3.0],
        "cb": [0.0, 1.0, 2.0, 3.0, 4.0, 6.0],
        "ad": [0.5, 1.0, 2.0, 3.0],
        "cd": [0.0, 1.0, 2.0, 3.0, 4.0],
        "clause": [0.25, 0.5, 0.75, 1.0],
    },
    "softmax mixture": {
        "tb": [0.05, 0.1, 0.2, 0.3, 0.5],
        "td": [0.01, 0.02, 0.03, 0.05, 0.08],
        "w": [0.1, 0.2, 0.3, 0.4, 0.5],
        "clause": [0.25, 0.5, 0.75, 1.0],
    },
}
SHIPPED_BEFORE = {"w": 0.25, "clause": 0.5}
RANDOM_TRIES = 120
# Where the search starts: an adaptive method starts as its fixed-weight form at that form's best,
# so whatever it finds scores at least as well on the sets it is tuned on.
STARTS: dict[str, dict[str, float]] = {
    "convex z-score (shipped before)": SHIPPED_BEFORE,
    "dense feedback over the top 50": {"w": 0.2, "clause": 1.0, "k": 3, "g": 0.0},
    "adaptive z-score": {"lo": 0.25, "hi": 0.25, "mid": 3.0, "slope": 1.0, "gamma": 0.0, "clause": 0.5},
    "adaptive min-max": {
        "lo": 0.2,
        "hi": 0.2,
        "mid": 3.0,
        "slope": 1.0,
        "gamma": 0.0,
        "alpha": 0.0,
        "clause": 1.0,
    },
}


def evaluate(sets: Sequence[Prepared], method: str, params: dict[str, Any]) -> float:
    fn = METHODS[method]
    return objective([(metric(p, scores_of(p, fn, params)), _base(p)) for p in sets])


_BASE: dict[int, dict[str, float]] = {}


def _base(p: Prepared) -> dict[str, float]:
    if id(p) not in _BASE:
        _BASE[id(p)] = baselines(p)
    return _BASE[id(p)]


def tune(sets: Sequence[Prepared], method: str) -> tuple[dict[str, Any], int]:
    """The best constants for ``method`` on ``sets``, and how many settings were tried."""
    if method == "learned linear":
        fits = [fit_learned(sets, clause) for clause in (0.5, 0.75, 1.0)]
        scored = [(evaluate(sets, method, f), i) for i, f in enumerate(fits)]
        return fits[max(scored)[1]], len(fits)
    space = SPACES[method]
    rng = random.Random(f"fusion-{method}")
    start = STARTS.get(method, {k: v[len(v) // 2] for k, v in space.items()})
    best, best_score, tried = dict(start), evaluate(sets, method, start), 1
    for _ in range(RANDOM_TRIES if len(space) > 2 else 0):
        params = {k: rng.choice(v) for k, v in space.items()}
        score = evaluate(sets, method, params)
        tried += 1
        if score > best_score:
            best, best_score = params, score
    for _ in range(3):  # coordinate refinement from the best random draw (or the whole grid for 2 knobs)
        improved = False
        for key, values in space.items():
            for value in values:
                params = {**best, key: value}
                score = evaluate(sets, method, params)
                tried += 1
                if score > best_score + 1e-9:
                    best, best_score, improved = params, score, True
        if not improved:
            break
    return best, tried


def fit_learned(sets: Sequence[Prepared], clause: float = 0.5, steps: int = 300) -> dict[str, Any]:
    """A linear score over a few features, fitted listwise: softmax over each request's top candidates.

    Each set weighs the same, whatever its size; candidates are the top 30 of the z-score mix plus
    every relevant tool, so the fit learns to order the tools that compete, not the whole catalog.
    """
    feats, labels, weights = [], [], []
    for p in sets:
        for positions, batch in p.batches:
            whole = Batch(batch.bm25[:, :1], batch.dense[:, :1], batch.coverage[:, :1])
            f = features(whole, {})[:, 0]  # [requests, tools, F]
            mix = 0.25 * z(whole.bm25[:, 0]) + 0.75 * z(whole.dense[:, 0])
            rel = p.relevant[positions]
            top = np.argsort(-np.where(rel, np.inf, mix), axis=1)[:, :30]
            feats.append(np.take_along_axis(f, top[..., None], 1))
            labels.append(np.take_along_axis(rel, top, 1))
            weights.append(np.full(len(positions), 1.0 / p.n_requests))
    x, y, w = np.concatenate(feats), np.concatenate(labels).astype(np.float64), np.concatenate(weights)
    keep = y.sum(axis=1) > 0
    x, y, w = (
        x[keep].astype(np.float64),
        y[keep] / y[keep].sum(axis=1, keepdims=True),
        w[keep] / w[keep].sum(),
    )
    coef = np.zeros(x.shape[-1])
    coef[1] = 1.0
    m, v = np.zeros_like(coef), np.zeros_like(coef)
    for t in range(1, steps + 1):  # Adam on the weighted listwise cross-entropy
        s = x @ coef
        s -= s.max(axis=1, keepdims=True)
        prob = np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)
        grad = np.einsum("q,qcf->f", w, (prob - y)[..., None] * x) + 1e-3 * coef
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad**2
        coef -= 0.05 * (m / (1 - 0.9**t)) / (np.sqrt(v / (1 - 0.999**t)) + 1e-8)
    return {"coef": [round(float(c), 4) for c in coef], "clause": clause}
