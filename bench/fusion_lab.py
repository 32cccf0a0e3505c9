"""How each way of fusing BM25 and dense scores does, tuned fairly, on every set.

Writes the "Search fusion" section of bench/RESULTS.md.

Every method is tuned on the public sets and the held-out dev splits only (never on a test split),
then scored on every set; leave-one-dataset-out tuning shows how each method does on a dataset it
was not tuned on. Signals come from the real engine and are cached (see ``_fusion_data``), so a run
after the first embeds nothing. ``--check`` also runs the engine itself over every set with the
shipped fusion and asserts that it scores what this lab computed for it.

    .venv/bin/python bench/fusion_lab.py --cache DIR [--check]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import DEFAULT_DATASETS, REPO, log
from _fusion_bm25 import sweep
from _fusion_data import CachingEmbedder, eval_sets, load_signals, open_service
from _fusion_eval import Prepared, baselines, metric, per_request, prepare, scores_of, single, tuning_view
from _fusion_methods import METHODS
from _fusion_names import VARIANTS, with_names
from _fusion_report import render
from _fusion_tune import SHIPPED_BEFORE, tune
from _sections import replace_section

from toolweaver.catalog import load_dataset_tools
from toolweaver.search.evaluate import evaluate, load_queries
from toolweaver.search.fuse import FusionWeights

SHIPPED = "convex min-max"  # what toolweaver.search.fuse implements, with the constants tuned here
BEFORE = "convex z-score (shipped before)"
BEFORE_NAMES = "title as written (before)"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "toolweaver-fusion-lab")
    parser.add_argument("--model-dir", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--methods", nargs="*", default=list(METHODS))
    parser.add_argument("--no-lodo", action="store_true", help="skip leave-one-dataset-out tuning")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "RESULTS.md")
    parser.add_argument("--check", action="store_true", help="the engine itself must score what the lab does")
    parser.add_argument("--render", action="store_true", help="only rewrite the section from the last run")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    if args.render:
        results = json.loads((args.cache / "fusion-lab.json").read_text(encoding="utf-8"))
        replace_section(args.out, "search-fusion", render(results))
        return
    started = time.monotonic()
    sets, embedder = load_all(args)
    if args.check:
        check_engine(args, sets)
    results = run(sets, args.methods, lodo=not args.no_lodo)
    results["names"] = names(sets, embedder)
    weights = FusionWeights()
    tuning = [tuning_view(p) for p in sets if p.eval_set.kind != "test"]
    log("bm25 constants: sweep")
    results["bm25"] = sweep(tuning, SHIPPED, {"w": weights.bm25, "clause": weights.clause})
    embedder.save()
    results["seconds"] = round(time.monotonic() - started)
    (args.cache / "fusion-lab.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    replace_section(args.out, "search-fusion", render(results))
    log(f"wrote the search-fusion section of {args.out}")


def load_all(args: argparse.Namespace) -> tuple[list[Prepared], CachingEmbedder]:
    service, embedder = open_service(args.cache, args.model_dir, args.threads)
    prepared = []
    for s in eval_sets(args.datasets):
        prepared.append(prepare(load_signals(s, service, embedder, args.cache)))
        log(f"loaded {s.label}: {prepared[-1].n_requests} requests")
    embedder.save()
    return prepared, embedder


def check_engine(args: argparse.Namespace, sets: list[Prepared]) -> None:
    """Run every request through SearchEngine.search with the shipped fusion; it must score as the lab."""
    service, embedder = open_service(args.cache, args.model_dir, args.threads)
    weights = FusionWeights()
    params = {"w": weights.bm25, "clause": weights.clause}
    for p in sets:
        s = p.eval_set
        engine, _ = service.engine(load_dataset_tools(s.tools), source=str(s.tools))
        queries = load_queries(s.queries, split=s.split, field=s.field)
        ours = evaluate(engine, queries, mode="hybrid")[s.metric]
        lab = metric(p, scores_of(p, METHODS[SHIPPED], params))
        if abs(ours - lab) > 1e-3:
            raise SystemExit(f"{s.label}: the engine scores {ours:.4f}, the lab {lab:.4f}")
        log(f"check {s.label}: engine {ours:.4f} = lab {lab:.4f}")
    embedder.save()


def run(sets: list[Prepared], methods: list[str], *, lodo: bool) -> dict[str, Any]:
    tuning = [tuning_view(p) for p in sets if p.eval_set.kind != "test"]
    out: dict[str, Any] = {"sets": [_describe(p) for p in sets], "methods": {}}
    for method in methods:
        log(f"tuning {method} on {len(tuning)} sets")
        params, tried = tune(tuning, method)
        row: dict[str, Any] = {"params": params, "tried": tried, "scores": _score_all(sets, method, params)}
        if lodo:
            row["lodo"] = _lodo(sets, tuning, method)
        out["methods"][method] = row
    out["shipped"] = {"method": SHIPPED, "weights": _shipped_weights()}
    return out


def names(sets: list[Prepared], embedder: CachingEmbedder) -> dict[str, Any]:
    """Each name rule for the embedding text: dense alone and the shipped fusion, on every set.

    The first rule is the code before this change; with its fusion it gives the "before" figures.
    """
    weights = FusionWeights()
    shipped = {"w": weights.bm25, "clause": weights.clause}
    out: dict[str, Any] = {}
    for rule_name, rule in VARIANTS.items():
        log(f"names: {rule_name}")
        rows: dict[str, dict[str, Any]] = {}
        for p in sets:
            q = with_names(p, rule, embedder)
            rows[p.eval_set.label] = {
                "dense": round(metric(q, single(q, "dense")), 4),
                "hybrid": round(metric(q, scores_of(q, METHODS[SHIPPED], shipped)), 4),
            }
            if rule_name == BEFORE_NAMES:
                rows[p.eval_set.label]["before"] = {
                    "hybrid": round(metric(q, scores_of(q, METHODS[BEFORE], SHIPPED_BEFORE)), 4),
                    **_rounded(baselines(q)),
                }
        out[rule_name] = rows
    return out


def _describe(p: Prepared) -> dict[str, Any]:
    s = p.eval_set
    return {"label": s.label, "group": s.group, "kind": s.kind, "metric": s.metric, "requests": p.n_requests}


def _score_all(sets: list[Prepared], method: str, params: dict[str, Any]) -> dict[str, Any]:
    scores = {}
    for p in sets:
        per = per_request(p, scores_of(p, METHODS[method], params))
        scores[p.eval_set.label] = {"hybrid": round(float(per.mean()), 4), **_rounded(baselines(p))}
    return scores


def _lodo(sets: list[Prepared], tuning: list[Prepared], method: str) -> dict[str, Any]:
    """For each dataset: tuned on the others (public + dev), scored on its public and held-out sets."""
    out: dict[str, Any] = {}
    for group in dict.fromkeys(p.eval_set.group for p in sets):
        rest = [p for p in tuning if p.eval_set.group != group]
        params, _ = tune(rest, method)
        left_out = [p for p in sets if p.eval_set.group == group]
        out[group] = {
            "params": params,
            "scores": {
                p.eval_set.label: round(metric(p, scores_of(p, METHODS[method], params)), 4) for p in left_out
            },
        }
        log(f"lodo {method}, without {group}: {out[group]['scores']}")
    return out


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 4) for k, v in values.items()}


def _shipped_weights() -> dict[str, float]:
    return {k: float(v) for k, v in FusionWeights().__dict__.items()}


if __name__ == "__main__":
    main()
