"""Where a search's time goes, and what bounds an index build: the profile behind issue 2's budgets.

    .venv/bin/python bench/search_profile.py [--large 10000] [--queries 500] [--sample 600] [--out FILE]

Measures, in this process, on the benchmark's synthetic catalog and requests (bench/_common.py):

1. warm hybrid search: each request's time split into tokenizing and clause splitting, the model
   (one embed call for the request and its clauses), cosines over the catalog, BM25 with fusion,
   and ranking with explanations; and how many requests have clauses (extra model runs);
2. one model run against its token count (what a run costs before its first token);
3. index-build throughput on a sample of tool texts: what the index does (each text alone, two
   threads) against length-sorted padded batches on two single-thread sessions or one two-thread
   session; and the int8 multiply-adds of the whole catalog against this machine's int8 matrix
   product rate, the floor under any build with this model.

Writes the ``search-profile`` section of bench/RESULTS.md (the rest of the file stays as it is).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: the package is used from the repo, not installed
    sys.path.insert(0, str(REPO))

from _common import BENCH_DIR, DEFAULT_DATASETS, latency_queries, log, synthetic_catalog, union_tools  # noqa: E402
from _provenance import run_header  # noqa: E402
from _sections import replace_section  # noqa: E402

from toolweaver.search.documents import dense_text  # noqa: E402
from toolweaver.search.embed import DISABLED_OPTIMIZERS, MODEL_FILE, OnnxEmbedder  # noqa: E402
from toolweaver.search.engine import SearchEngine, cosines  # noqa: E402
from toolweaver.search.fuse import clause_spans  # noqa: E402
from toolweaver.search.index import build_index  # noqa: E402
from toolweaver.search.tokenize import tokenize  # noqa: E402
from toolweaver.settings import Settings  # noqa: E402

SECTION = "search-profile"
STAGES = ("tokenize + clauses", "model", "cosines", "BM25 + fusion", "ranking + explanations")


def ms(seconds: Sequence[float], q: float) -> str:
    return f"{float(np.percentile(np.asarray(seconds) * 1000.0, q)):.2f}"


def table(head: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return [*lines, *("| " + " | ".join(str(c) for c in row) + " |" for row in rows), ""]


def warm_split(engine: SearchEngine, queries: list[str]) -> list[str]:
    """Time the stages of ``engine.search`` one by one, the way it runs them."""
    for query in queries[:20]:
        engine.search(query)
    stages: dict[str, list[float]] = {name: [] for name in STAGES}
    totals, runs, with_clauses = [], [], 0
    for query in queries:
        start = time.perf_counter()
        engine.search(query)
        totals.append(time.perf_counter() - start)
        marks = [time.perf_counter()]
        text = query.strip()
        tokens, spans = tokenize(text), clause_spans(text)
        parts = [text, *(text[a:b] for a, b in spans)]
        marks.append(time.perf_counter())
        vectors = engine.embedder.embed(parts)
        marks.append(time.perf_counter())
        dense = cosines(engine.index.embeddings, vectors)
        marks.append(time.perf_counter())
        engine._hybrid(engine.index.bm25.scores(tokens), dense, parts[1:])
        marks.append(time.perf_counter())
        for name, (a, b) in zip(STAGES, itertools.pairwise(marks), strict=False):
            stages[name].append(b - a)
        stages[STAGES[-1]].append(max(0.0, totals[-1] - (marks[-1] - marks[0])))
        runs.append(len(parts))
        with_clauses += len(parts) > 1
    stages["**search, end to end**"] = totals
    rows = [[name, ms(v, 50), ms(v, 95), f"{statistics.fmean(v) * 1000:.2f}"] for name, v in stages.items()]
    slowest = np.argsort(totals)[-max(1, len(totals) // 20) :]
    note = (
        f"{with_clauses} of {len(queries)} requests have clauses, so {sum(runs) - len(queries)} extra "
        f"model runs ({statistics.fmean(runs):.2f} runs per request; the slowest 5 % average "
        f"{statistics.fmean(runs[i] for i in slowest):.1f}). Stages are timed one by one after the "
        "timed search; ranking + explanations is the search's time less the other stages."
    )
    return [*table(["stage", "p50 ms", "p95 ms", "mean ms"], rows), note, ""]


def run_costs(embedder: OnnxEmbedder) -> list[str]:
    rows = []
    for tokens in (4, 8, 16, 32, 64, 128):
        text = " ".join(["word"] * (tokens - 2))  # one token each, plus [CLS] and [SEP]
        embedder.embed([text])
        seconds = []
        for _ in range(30):
            start = time.thread_time()
            embedder.embed([text])
            seconds.append(time.thread_time() - start)
        rows.append([tokens, f"{statistics.median(seconds) * 1000:.2f}"])
    return table(["tokens", "CPU ms per run (one thread)"], rows)


def op_shares(tokens: int, tmp: Path) -> list[str]:
    """onnxruntime's own profile of one run: kernel time per operator type."""
    session = _session(1, spin=False, profile_to=tmp)
    ids = np.random.default_rng(0).integers(2000, 20000, size=(1, tokens)).astype(np.int64)
    feeds = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}
    for _ in range(50):
        session.run(None, feeds)
    events = json.loads(Path(session.end_profiling()).read_text(encoding="utf-8"))
    runs = sum(1 for e in events if e.get("cat") == "Session" and e.get("name") == "model_run")
    by_op: dict[str, float] = {}
    for e in events:
        if e.get("cat") == "Node" and str(e.get("name", "")).endswith("_kernel_time"):
            by_op[e["args"]["op_name"]] = by_op.get(e["args"]["op_name"], 0.0) + e["dur"] / runs
    total = sum(by_op.values())
    ranked = sorted(by_op.items(), key=lambda kv: -kv[1])
    quantized = sum(v for k, v in by_op.items() if k in ("DynamicQuantizeMatMul", "MatMulIntegerToFloat"))
    rows = [[op, f"{us:.0f}", f"{100 * us / total:.0f} %"] for op, us in ranked[:8]]
    rows.append(["all other operators", f"{sum(v for _, v in ranked[8:]):.0f}", ""])
    note = (
        f"Kernel time of one {tokens}-token run by operator type (onnxruntime's profiler, which adds "
        f"its own overhead to every node): the int8 weight products are {100 * quantized / total:.0f} % "
        "of it; attention's float products, transposes, softmax, layer norms and GELU the rest."
    )
    return [*table(["operator", "µs per run", "share"], rows), note, ""]


def _session(threads: int, spin: bool, profile_to: Path | None = None) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    if profile_to is not None:
        options.enable_profiling = True
        options.profile_file_prefix = str(profile_to / "ort-profile")
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    model = Settings.from_env().embedding_model_dir / MODEL_FILE
    return ort.InferenceSession(
        str(model), options, providers=["CPUExecutionProvider"], disabled_optimizers=list(DISABLED_OPTIMIZERS)
    )


def _padded_run(session: Any, encodings: Sequence[Any]) -> None:
    width = max(len(e.ids) for e in encodings)
    ids = np.zeros((len(encodings), width), dtype=np.int64)
    mask = np.zeros_like(ids)
    for row, e in enumerate(encodings):
        ids[row, : len(e.ids)], mask[row, : len(e.ids)] = e.ids, 1
    session.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})


def _batched(session: Any, encodings: Sequence[Any], batch: int, workers: int) -> float:
    batches = iter([encodings[i : i + batch] for i in range(0, len(encodings), batch)])
    lock = threading.Lock()

    def work() -> None:
        while True:
            with lock:
                chunk = next(batches, None)
            if chunk is None:
                return
            _padded_run(session, chunk)

    start = time.perf_counter()
    threads = [threading.Thread(target=work) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def build_layouts(embedder: OnnxEmbedder, texts: list[str]) -> list[str]:
    encodings = sorted(embedder._tokenizer.encode_batch(texts), key=lambda e: -len(e.ids))
    one, two = _session(1, spin=False), _session(2, spin=True)
    layouts: list[tuple[str, Callable[[], float]]] = [
        ("each text alone, 2 threads (the index)", lambda: _timed(lambda: embedder.embed(texts))),
        *(
            (f"padded batches of {b}, two 1-thread sessions", lambda b=b: _batched(one, encodings, b, 2))
            for b in (8, 16, 32)
        ),
        *(
            (f"padded batches of {b}, one 2-thread session", lambda b=b: _batched(two, encodings, b, 1))
            for b in (8, 32)
        ),
    ]
    rows = []
    for name, measure in layouts:
        best = min(measure() for _ in range(2))
        rows.append([name, f"{best * 1000 / len(texts):.2f}", f"{len(texts) / best:.0f}"])
    return table(["layout", "ms per text", "texts/s"], rows)


def _timed(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def gemm_floor(embedder: OnnxEmbedder, texts: list[str]) -> list[str]:
    """The catalog's int8 multiply-adds against this machine's int8 matrix product rate."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(embedder.model_dir / MODEL_FILE))
    int8 = TensorProto.INT8
    weights = {i.name: tuple(i.dims) for i in model.graph.initializer if i.data_type == int8}
    per_token = sum(
        weights[n.input[1]][0] * weights[n.input[1]][1]
        for n in model.graph.node
        if n.op_type == "MatMulInteger" and n.input[1] in weights
    )
    tokens = sum(len(e.ids) for e in embedder._tokenizer.encode_batch(texts))
    k, n = 384, 1536
    graph = helper.make_graph(
        [
            helper.make_node("DynamicQuantizeLinear", ["x"], ["q", "s", "z"]),
            helper.make_node("MatMulInteger", ["q", "w", "z"], ["y"]),
        ],
        "gemm",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, k])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [None, n])],
        [helper.make_tensor("w", TensorProto.INT8, [k, n], np.ones((k, n), np.int8).tobytes(), raw=True)],
    )
    probe = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    probe.ir_version = 8
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(probe.SerializeToString(), options, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((80, k)).astype(np.float32)  # one 80-token text
    for _ in range(20):
        session.run(None, {"x": x})
    start, reps = time.perf_counter(), 400
    for _ in range(reps):
        session.run(None, {"x": x})
    rate = 80 * k * n * reps / (time.perf_counter() - start)
    cores = os.cpu_count() or 1
    macs = per_token * tokens
    return [
        f"The model's weight matrices are {per_token / 1e6:.1f} M int8 multiply-adds per token; the "
        f"{len(texts):,} tool texts are {tokens:,} tokens (mean {tokens / len(texts):.0f}): "
        f"{macs / 1e12:.2f} T multiply-adds before attention and every other operator. One core "
        f"multiplies int8 matrices of an 80-token text at {rate / 1e9:.0f} G/s here, so on {cores} cores "
        f"the matrix products alone take at least {macs / rate / cores:.1f} s.",
        "",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/search_profile.py", description=__doc__.splitlines()[0])
    parser.add_argument("--large", type=int, default=10_000, help="catalog size (default: %(default)s)")
    parser.add_argument("--queries", type=int, default=500, help="requests (default: %(default)s)")
    parser.add_argument("--sample", type=int, default=600, help="texts for the build layouts (default: 600)")
    parser.add_argument(
        "--out", type=Path, default=BENCH_DIR / "RESULTS.md", help="report (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    settings = Settings.from_env()
    load_before = os.getloadavg()[0]
    log("catalog and queries")
    catalog = synthetic_catalog(union_tools(DEFAULT_DATASETS), args.large)
    queries = latency_queries(DEFAULT_DATASETS, args.queries)
    embedder = OnnxEmbedder(
        settings.embedding_model_dir,
        threads=settings.embedding_threads,
        max_length=settings.embedding_max_length,
    )
    rng = np.random.default_rng(0)
    texts = [dense_text(catalog.tools[i]) for i in rng.choice(len(catalog), args.sample, replace=False)]
    log("build layouts")
    build = build_layouts(embedder, texts) + gemm_floor(embedder, [dense_text(t) for t in catalog])
    log("model runs")
    with tempfile.TemporaryDirectory(prefix="toolweaver-profile-") as tmp:
        runs = run_costs(embedder) + op_shares(80, Path(tmp))
    log(f"indexing {len(catalog):,} tools for the warm split")
    index, _ = build_index(catalog, embedder)
    log("warm split")
    split = warm_split(SearchEngine(catalog, index, embedder), queries)
    note = f"; EMBEDDING_THREADS={settings.embedding_threads}"
    lines = [
        "## Search profile",
        "",
        *run_header("bench/search_profile.py", argv or sys.argv[1:], load_before, command_note=note),
        "",
        f"### Warm hybrid search at {len(catalog):,} tools, {len(queries)} requests",
        "",
        *split,
        "### One model run",
        "",
        *runs,
        f"### Index build: {len(texts)} tool texts of the {len(catalog):,}-tool catalog",
        "",
        *build,
    ]
    replace_section(args.out, SECTION, "\n".join(lines))
    log(f"wrote the {SECTION} section of {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
