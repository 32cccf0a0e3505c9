"""``run-program`` and ``run-plan``: the sandbox and the plan runner from the command line.

Both print one JSON object with ``--json`` (``status, result, stdout, error, tool_calls,
duration_ms``), else a short report; the exit code is 0 only when the run succeeded.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

from toolweaver.errors import CatalogError, ToolWeaverError
from toolweaver.settings import DEMO_CATALOG, Settings


def add_run_commands(sub: Any) -> None:
    p = sub.add_parser(
        "run-program",
        help="run a Python program in the sandbox; catalog tools are async functions in it",
        description="Run a program in the sandbox. Each catalog tool is an async function "
        "(`await echo(text='hi')`); the program's answer is what it assigns to `result`.",
    )
    p.add_argument("--file", type=Path, required=True, help="the program (.py), or - for standard input")
    _run_args(p)
    p.add_argument("--timeout", type=float, default=10.0, help="wall-clock seconds (default 10)")
    p.add_argument("--max-tool-calls", type=int, default=50, help="tool calls allowed (default 50)")
    p.set_defaults(handler=_cmd_run_program)

    p = sub.add_parser(
        "run-plan",
        help="validate and run a plan: a DAG of tool calls and programs",
        description="Validate a plan (JSON) against the catalog and run it.",
    )
    p.add_argument("--file", type=Path, required=True, help="the plan (.json), or - for standard input")
    _run_args(p)
    p.add_argument("--timeout", type=float, default=60.0, help="wall-clock seconds for the plan (default 60)")
    p.set_defaults(handler=_cmd_run_plan)

    p = sub.add_parser(
        "plan",
        help="plan a request with the language model (OPENAI_BASE_URL or AZURE_OPENAI_ENDPOINT)",
        description="Search the catalog, then ask the model for a validated plan. Nothing runs.",
    )
    p.add_argument("request", help="the request in plain words")
    _run_args(p)
    p.set_defaults(handler=_cmd_plan)

    p = sub.add_parser(
        "ask",
        help="plan a request, run the plan and answer in words",
        description="Plan a request with the model, run the plan, and put the result in words.",
    )
    p.add_argument("request", help="the request in plain words")
    _run_args(p)
    p.add_argument(
        "--timeout", type=float, default=120.0, help="wall-clock seconds for the run (default 120)"
    )
    p.add_argument("--no-answer", action="store_true", help="skip the final answer in words")
    p.set_defaults(handler=_cmd_ask)


def _run_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--catalog", default="demo", help="'demo' (default) or a catalog file")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _read(path: Path) -> str:
    if str(path) == "-":
        return sys.stdin.read()
    try:
        return path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ToolWeaverError(f"cannot read {path}: {exc.strerror}") from None


def _catalog(args: argparse.Namespace) -> Any:
    from toolweaver.catalog import load_catalog

    return load_catalog(DEMO_CATALOG if args.catalog == "demo" else Path(args.catalog))


def _planner(args: argparse.Namespace, settings: Settings, catalog: Any) -> Any:
    """The app's planner (services.build_planner) over the file's catalog and the CLI's index cache."""
    from toolweaver.progress import progress_factory
    from toolweaver.search.service import SearchService
    from toolweaver.services import build_planner
    from toolweaver.storage import FileSystemBlobStore
    from toolweaver.storage.cache import BlobCache

    store = FileSystemBlobStore(settings.index_cache_dir)
    engine, _ = SearchService(settings, store).engine(
        catalog, source=f"cli:{args.catalog}", progress=progress_factory("embedding tools")
    )
    return build_planner(
        settings,
        lambda: catalog,
        lambda request, k: [hit.tool for hit in engine.search(request, top_k=k)],
        BlobCache(store, "plans", settings.plan_cache_ttl),
    )


def _cmd_plan(args: argparse.Namespace, settings: Settings) -> int:
    from toolweaver.planning.ask import plan_view

    planner = _planner(args, settings, _catalog(args))
    view = {"request": args.request, **plan_view(asyncio.run(planner.plan(args.request)))}
    print(json.dumps(view, ensure_ascii=False, indent=None if args.json else 2))
    return 0


def _cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    from toolweaver.planning.ask import ask

    catalog = _catalog(args)
    planner = _planner(args, settings, catalog)
    service = _service(args, settings, catalog)
    work = ask(planner, service, args.request, timeout_s=args.timeout, synthesize=not args.no_answer)
    try:
        answer = asyncio.run(work)
    finally:
        service.code_runner.close()
    if args.json:
        print(json.dumps(answer, ensure_ascii=False))
    else:
        run = answer["run"]
        steps = len(answer["plan"].get("steps", []))
        plural = "" if steps == 1 else "s"
        print(f"plan: {steps} step{plural}; run: {run['status']} ({run['duration_ms']:.0f} ms)")
        if run.get("error"):
            print(f"error: {run['error']}")
        print(answer.get("answer") or json.dumps(run.get("result"), ensure_ascii=False, indent=2))
    return 0 if answer["run"]["status"] == "succeeded" else 1


def _service(args: argparse.Namespace, settings: Settings, catalog: Any = None) -> Any:
    """The app's execution service (services.build_execution) over the file's catalog."""
    from toolweaver.services import build_execution

    catalog = catalog if catalog is not None else _catalog(args)
    return build_execution(settings, lambda: catalog)


def _cmd_run_program(args: argparse.Namespace, settings: Settings) -> int:
    from toolweaver.execution.ports import RunLimits

    if args.timeout <= 0 or args.max_tool_calls < 1:
        raise ToolWeaverError("--timeout must be positive and --max-tool-calls at least 1")
    code = _read(args.file)
    service = _service(args, settings)
    limits = RunLimits(timeout_s=args.timeout, max_tool_calls=args.max_tool_calls)
    try:
        outcome = asyncio.run(service.run_program(code, limits=limits))
    finally:
        service.code_runner.close()
    return _report(dataclasses.asdict(outcome), args.json)


def _cmd_run_plan(args: argparse.Namespace, settings: Settings) -> int:
    try:
        plan = json.loads(_read(args.file))
    except json.JSONDecodeError as exc:
        raise CatalogError(f"{args.file}: not valid JSON: {exc.msg} at line {exc.lineno}") from None
    service = _service(args, settings)
    try:
        outcome = asyncio.run(service.run_plan(plan, timeout_s=args.timeout))
    finally:
        service.code_runner.close()
    return _report(outcome.to_dict(), args.json)


def _report(outcome: dict[str, Any], as_json: bool) -> int:
    if as_json:
        print(json.dumps(outcome, ensure_ascii=False))
    else:
        calls = outcome.get("tool_calls") or []
        print(
            f"status: {outcome['status']}  ({outcome.get('duration_ms', 0):.0f} ms, {len(calls)} tool calls)"
        )
        for call in calls:
            print(
                f"  {'ok  ' if call['ok'] else 'FAIL'} {call['tool']}({json.dumps(call['arguments'])[:80]})"
            )
        if outcome.get("stdout"):
            print("stdout:\n" + str(outcome["stdout"]).rstrip())
        if outcome.get("error"):
            print(f"error: {outcome['error']}")
        print("result: " + json.dumps(outcome.get("result"), ensure_ascii=False, indent=2))
    return 0 if outcome["status"] == "succeeded" else 1
