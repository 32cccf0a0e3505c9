"""``python -m toolweaver``: search, index, evaluate and export the model from the command line.

Every expected failure prints one line, ``error: <what happened and what to do>``, and exits
non-zero; tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from toolweaver import __version__
from toolweaver.errors import ToolWeaverError
from toolweaver.settings import Settings

EXIT_ERROR = 1
EXIT_USAGE = 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
        result: int = args.handler(args, settings)
        return result
    except ToolWeaverError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    from toolweaver.search.engine import SEARCH_MODES
    from toolweaver.search.evaluate import RELEVANT_FIELDS

    parser = argparse.ArgumentParser(prog="python -m toolweaver", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"toolweaver {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "search", help="find the tools for a request", description="Find the tools for a request."
    )
    p.add_argument("query", help="the request in plain words")
    _catalog_arg(p)
    p.add_argument("--top-k", type=int, default=None, help="how many tools (default: SEARCH_TOP_K or 5)")
    p.add_argument("--mode", choices=SEARCH_MODES, default="hybrid", help="scoring (default: hybrid)")
    p.add_argument("--tag", action="append", dest="tags", help="only tools with this tag (repeatable)")
    p.add_argument("--backend", help="only tools of this backend kind (python, http, mcp, none)")
    p.add_argument("--min-score", type=float, default=None, help="drop hits scoring below this")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(handler=_cmd_search)

    p = sub.add_parser(
        "index",
        help="build or refresh a catalog's search index",
        description="Build or refresh the search index of a catalog (only changed tools are embedded again).",
    )
    _catalog_arg(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=_cmd_index)

    p = sub.add_parser(
        "eval-search",
        help="measure search quality on a benchmark",
        description="Measure search quality on a tool-retrieval benchmark (JSON Lines tools and queries).",
    )
    p.add_argument("--tools", type=Path, required=True, help="tools file (JSON Lines)")
    p.add_argument("--queries", type=Path, required=True, help="queries file (JSON Lines)")
    p.add_argument("--split", default=None, help="only queries of this split (e.g. single, multi, eval)")
    p.add_argument("--mode", choices=SEARCH_MODES, default="hybrid", help="scoring (default: hybrid)")
    p.add_argument("--k", type=int, default=10, help="extra cut-off for ndcg/recall (default: 10)")
    p.add_argument(
        "--relevant-field", choices=RELEVANT_FIELDS, default="relevant", help="which relevance labels"
    )
    p.add_argument("--limit", type=int, default=None, help="only the first N queries")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=_cmd_eval)

    p = sub.add_parser(
        "demo",
        help="search the demo catalog (interactive on a terminal)",
        description="Run example searches, then read requests from the terminal until an empty line.",
    )
    _catalog_arg(p)
    p.set_defaults(handler=_cmd_demo)

    p = sub.add_parser(
        "export-model",
        help="export the embedding model to int8 ONNX (needs dev extras)",
        description="Export a sentence-transformers model to ONNX, quantize it to int8 and verify it.",
    )
    p.add_argument(
        "--model",
        default=None,
        help="a local sentence-transformers model directory (default: all-MiniLM-L6-v2)",
    )
    p.add_argument("--out", type=Path, default=None, help="target directory (default: EMBEDDING_MODEL_DIR)")
    p.add_argument("--min-cosine", type=float, default=None, help="parity threshold (default: 0.99)")
    p.set_defaults(handler=_cmd_export)

    from toolweaver.cli_run import add_run_commands
    from toolweaver.observability.report import add_report_command

    add_run_commands(sub)
    add_report_command(sub)
    return parser


def _catalog_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--catalog",
        type=Path,
        default=None,
        help="catalog file: .json, .yaml or .jsonl (default: CATALOG_PATH or the demo catalog)",
    )


def _open(args: argparse.Namespace, settings: Settings) -> tuple[Any, Any]:
    from toolweaver.catalog import load_catalog
    from toolweaver.progress import progress_factory
    from toolweaver.search.service import SearchService
    from toolweaver.storage import FileSystemBlobStore

    path: Path = args.catalog or settings.catalog_path
    catalog = load_catalog(path)
    service = SearchService(settings, FileSystemBlobStore(settings.index_cache_dir))
    return service.engine(catalog, source=str(path.resolve()), progress=progress_factory("embedding tools"))


def _cmd_search(args: argparse.Namespace, settings: Settings) -> int:
    engine, _ = _open(args, settings)
    hits = engine.search(
        args.query,
        top_k=settings.search_top_k if args.top_k is None else args.top_k,
        mode=args.mode,
        tags=args.tags,
        backend=args.backend,
        min_score=args.min_score,
    )
    if args.json:
        print(
            json.dumps(
                {"query": args.query, "mode": args.mode, "hits": [h.to_dict() for h in hits]}, indent=2
            )
        )
        return 0
    _print_hits(args.query, hits)
    return 0


DEMO_REQUESTS = (
    "what's the weather in Lisbon this weekend",
    "email the signed contract to the customer and open a support ticket",
    "how many euros is 250 dollars",
)


def _cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    engine, report = _open(args, settings)
    print(f"{len(engine.catalog)} tools, index {report.source} ({report.key})\n")
    for request in DEMO_REQUESTS:
        _print_hits(request, engine.search(request, top_k=3))
    if not sys.stdin.isatty():
        return 0
    print("Type a request (empty line to quit).")
    while request := input("search> ").strip():
        _print_hits(request, engine.search(request, top_k=settings.search_top_k))
    return 0


def _print_hits(request: str, hits: list[Any]) -> None:
    print(f"> {request}")
    for rank, hit in enumerate(hits, start=1):
        print(f"{rank:>2}. {hit.tool.name}  ({hit.score:.3f})  {hit.tool.description[:80]}")
        print(f"    {hit.explanation}")
    if not hits:
        print("no matching tools")
    print()


def _cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    engine, report = _open(args, settings)
    info: dict[str, Any] = {"tools": len(engine.catalog), "key": report.key, "source": report.source}
    if report.stats is not None:
        info.update(embedded=report.stats.embedded, reused=report.stats.reused)
    if args.json:
        print(json.dumps(info))
    elif report.stats is None:
        print(f"index {report.key} is up to date ({info['tools']} tools)")
    else:
        print(
            f"built index {report.key}: {info['tools']} tools, "
            f"{info['embedded']} embedded, {info['reused']} reused"
        )
    return 0


def _cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    from toolweaver.catalog import load_dataset_tools
    from toolweaver.progress import ProgressLine, progress_factory
    from toolweaver.search.evaluate import evaluate, load_queries
    from toolweaver.search.service import SearchService
    from toolweaver.storage import FileSystemBlobStore

    if args.k < 1:
        raise_usage("--k must be at least 1")
    queries = load_queries(args.queries, split=args.split, field=args.relevant_field, limit=args.limit)
    catalog = load_dataset_tools(args.tools)
    service = SearchService(settings, FileSystemBlobStore(settings.index_cache_dir))
    engine, _ = service.engine(
        catalog, source=str(args.tools.resolve()), progress=progress_factory("embedding tools")
    )
    bar = ProgressLine(f"evaluating {args.mode}", len(queries))
    result = evaluate(engine, queries, mode=args.mode, k=args.k, progress=bar.advance)
    from toolweaver.observability.tracking import log_run

    config = {
        "tools": str(args.tools),
        "queries": str(args.queries),
        "split": args.split,
        "mode": args.mode,
        "k": args.k,
        "relevant_field": args.relevant_field,
        "model": engine.embedder.fingerprint,
        "embedding_max_length": settings.embedding_max_length,
    }
    log_run("eval-search", config, result)
    if args.json:
        print(json.dumps(result))
        return 0
    for name, value in result.items():
        print(f"{name:>12}: {value}")
    return 0


def _cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from toolweaver.search.export import MIN_MEAN_COSINE, export_model

    out = args.out or settings.embedding_model_dir
    print(f"exporting {args.model or 'all-MiniLM-L6-v2'} to {out} ...", file=sys.stderr)
    report = export_model(args.model, out, min_cosine=args.min_cosine or MIN_MEAN_COSINE)
    print(
        f"exported {report.source} to {report.out_dir}: {report.model_bytes / 1e6:.1f} MB int8, "
        f"parity mean cosine {report.mean_cosine:.4f} (min {report.min_cosine:.4f})"
    )
    return 0


def raise_usage(message: str) -> None:
    from toolweaver.errors import ConfigError

    raise ConfigError(message)
