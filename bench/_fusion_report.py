"""The "Search fusion" section of bench/RESULTS.md, from fusion_lab's results."""

from __future__ import annotations

import subprocess
import time
from typing import Any

from _common import REPO

KIND_ORDER = {"public": 0, "dev": 1, "test": 2}


def render(results: dict[str, Any]) -> str:
    methods = results["methods"]
    sets = sorted(results["sets"], key=lambda s: KIND_ORDER[s["kind"]])
    shipped = results["shipped"]["method"]
    lines = [
        "## Search fusion",
        "",
        f"- **Date**: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; **commit** {_commit()}",
        "- **Command**: `.venv/bin/python bench/fusion_lab.py` "
        f"({results.get('seconds', '?')} s; signals from the real engine, cached)",
        "- **Sets**: the five public sets, and the held-out requests of `bench/heldout/` (written for "
        "this project): each tuned on its `dev` split only, its `test` split never tuned on.",
        "- **Tuning**: every method's constants chosen on the public sets plus the dev splits (MetaTool "
        "single: a seeded sample of 4,000 requests while tuning), maximising the mean headline metric "
        "with a penalty wherever the hybrid falls more than 0.005 behind its better part; figures below "
        "on every request. The lab's scores equal the engine's (`--check` runs every request through "
        "`SearchEngine.search`).",
        "- **Not tried**: a cross-encoder second stage. No package in the registry lists ships such a "
        "model's weights for offline use (flashrank fetches them at first use), and 20 to 50 extra model "
        "runs per request, at about 4 ms each on these cores, do not fit the 12 ms p95 budget. The dense "
        "feedback second stage below is the one that fits; its tuned weight is 0.",
        "",
    ]
    if shipped in methods and "names" in results:
        lines += _before_after(results, sets, shipped)
        lines += _names_table(results["names"], sets)
    if "bm25" in results:
        lines += _bm25_table(results["bm25"])
    lines += _methods_table(methods, sets)
    lines += _lodo_table(methods, sets)
    return "\n".join(lines)


def _before_after(results: dict[str, Any], sets: list[dict[str, Any]], shipped: str) -> list[str]:
    before_rule = next(iter(results["names"]))
    before = {k: v["before"] for k, v in results["names"][before_rule].items()}
    after = results["methods"][shipped]["scores"]
    weights = ", ".join(f"{k} {v:g}" for k, v in results["shipped"]["weights"].items())
    out = [
        f"### Before and after (shipped: {shipped}, {weights}; names embedded as glued words split)",
        "",
        "Before: the code this change started from (z-scores 0.25 / 0.75, clause 0.5, titles embedded "
        "as written). bm25 did not change; dense changed with the embedded name.",
        "",
        "| set | metric | requests | bm25 | dense before | dense after | hybrid before | hybrid after "
        "| after − max(bm25, dense) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in sets:
        b, a = before[s["label"]], after[s["label"]]
        margin = a["hybrid"] - max(a["bm25"], a["dense"])
        out.append(
            f"| {s['label']} | {s['metric']} | {s['requests']:,} | {a['bm25']:.3f} | {b['dense']:.3f} "
            f"| {a['dense']:.3f} | {b['hybrid']:.3f} | **{a['hybrid']:.3f}** | {margin:+.3f} |"
        )
    return [*out, ""]


def _names_table(names: dict[str, Any], sets: list[dict[str, Any]]) -> list[str]:
    groups = ([s for s in sets if s["kind"] != "test"], [s for s in sets if s["kind"] == "test"])
    out = [
        "### The name given to the embedding model",
        "",
        "Dense alone and the shipped fusion: mean over the public sets and dev splits (the choice), "
        "then over the test splits.",
        "",
        "| name rule | dense, public + dev | hybrid, public + dev | dense, test | hybrid, test |",
        "|---|---|---|---|---|",
    ]
    for rule, rows in names.items():
        cells = [sum(rows[s["label"]][k] for s in g) / len(g) for g in groups for k in ("dense", "hybrid")]
        out.append(f"| {rule} | " + " | ".join(f"{c:.3f}" for c in cells) + " |")
    return [*out, ""]


def _bm25_table(rows: list[dict[str, Any]]) -> list[str]:
    out = [
        "### BM25's constants under the shipped fusion",
        "",
        "Mean over the public sets (MetaTool single: the tuning sample) and the dev splits; shipped: "
        "k1 1.2, b 0.3, name twice.",
        "",
        "| k1 | b | name repeat | bm25 alone | hybrid |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        scores = r["scores"].values()
        bm25 = sum(s["bm25"] for s in scores) / len(scores)
        hybrid = sum(s["hybrid"] for s in scores) / len(scores)
        out.append(f"| {r['k1']} | {r['b']} | {r['name_repeat']} | {bm25:.3f} | {hybrid:.3f} |")
    return [*out, ""]


def _methods_table(methods: dict[str, Any], sets: list[dict[str, Any]]) -> list[str]:
    labels = [s["label"] for s in sets]
    out = [
        "### Every method, tuned the same way",
        "",
        "Mean headline metric over the public sets, the held-out dev splits and the held-out test splits; "
        "'holds' counts the sets (of all) where hybrid ≥ max(bm25, dense) − 0.005.",
        "",
        "| method | constants | settings tried | public | held-out dev | held-out test | holds |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in methods.items():
        sc = row["scores"]
        means = [_mean(sc, sets, kind) for kind in ("public", "dev", "test")]
        holds = sum(sc[x]["hybrid"] >= max(sc[x]["bm25"], sc[x]["dense"]) - 0.005 for x in labels)
        out.append(
            f"| {name} | {_params(row['params'])} | {row['tried']} | {means[0]:.3f} | {means[1]:.3f} "
            f"| {means[2]:.3f} | {holds}/{len(labels)} |"
        )
    out += ["", "<details><summary>Every method on every set</summary>", ""]
    out += ["| set | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for x in labels:
        out.append(
            f"| {x} | " + " | ".join(f"{m['scores'][x]['hybrid']:.3f}" for m in methods.values()) + " |"
        )
    return [*out, "", "</details>", ""]


def _lodo_table(methods: dict[str, Any], sets: list[dict[str, Any]]) -> list[str]:
    with_lodo = {n: m for n, m in methods.items() if "lodo" in m}
    if not with_lodo:
        return []
    out = [
        "### Leave one dataset out",
        "",
        "Each dataset's sets (public and held-out) scored with constants tuned on the other datasets only, "
        "beside the constants tuned on all; a method that generalises loses little. The method is chosen "
        "by the left-out mean over the public sets and dev splits; the test splits are only reported.",
        "",
        "| set | " + " | ".join(f"{n}: left out / all" for n in with_lodo) + " |",
        "|---|" + "---|" * len(with_lodo),
    ]
    for s in sets:
        cells = []
        for m in with_lodo.values():
            left = m["lodo"][s["group"]]["scores"][s["label"]]
            cells.append(f"{left:.3f} / {m['scores'][s['label']]['hybrid']:.3f}")
        out.append(f"| {s['label']} | " + " | ".join(cells) + " |")
    for title, kinds in (("mean, public + dev (the choice)", ("public", "dev")), ("mean, test", ("test",))):
        chosen = [s for s in sets if s["kind"] in kinds]
        cells = []
        for m in with_lodo.values():
            left = sum(m["lodo"][s["group"]]["scores"][s["label"]] for s in chosen) / len(chosen)
            full = sum(m["scores"][s["label"]]["hybrid"] for s in chosen) / len(chosen)
            cells.append(f"**{left:.3f}** / {full:.3f}")
        out.append(f"| **{title}** | " + " | ".join(cells) + " |")
    return [*out, ""]


def _mean(scores: dict[str, Any], sets: list[dict[str, Any]], kind: str) -> float:
    values = [scores[s["label"]]["hybrid"] for s in sets if s["kind"] == kind]
    return sum(values) / len(values) if values else float("nan")


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:g}" if isinstance(v, float | int) else f"{k} {v}" for k, v in params.items())


def _commit() -> str:
    proc = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=False
    )
    return proc.stdout.strip() or "unknown"
